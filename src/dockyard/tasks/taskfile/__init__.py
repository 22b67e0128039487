"""Multi-step task files (ACR Tasks' YAML, v1.0.0 and v1.1.0): reading, checking, templates,
aliases, secret masking and the step graph. Pure: no I/O beyond the text it is given."""

from dockyard.tasks.taskfile.graph import Plan, dependencies
from dockyard.tasks.taskfile.load import RenderedTaskFile, load_task_file
from dockyard.tasks.taskfile.model import Network, Secret, Step, TaskFile, Volume, VolumeMount
from dockyard.tasks.taskfile.parse import parse_task_file
from dockyard.tasks.taskfile.problems import Problem, TaskFileInvalid
from dockyard.tasks.taskfile.secrets import SecretMasker
from dockyard.tasks.taskfile.templates import RunContext

__all__ = [
    "Network",
    "Plan",
    "Problem",
    "RenderedTaskFile",
    "RunContext",
    "Secret",
    "SecretMasker",
    "Step",
    "TaskFile",
    "TaskFileInvalid",
    "Volume",
    "VolumeMount",
    "dependencies",
    "load_task_file",
    "parse_task_file",
]

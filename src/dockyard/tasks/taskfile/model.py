"""A task file as typed data (ACR Tasks' YAML, versions v1.0.0 and v1.1.0)."""

from __future__ import annotations

from dataclasses import dataclass, field

V1_0_0, V1_1_0 = "v1.0.0", "v1.1.0"
VERSIONS = (V1_0_0, V1_1_0)
DEFAULT_VERSION = V1_1_0  # ACR takes the latest version when none is given
DEFAULT_STEP_TIMEOUT = 600
MAX_TIMEOUT = 28800  # no step can outlast the longest run
DEFAULT_WORKING_DIRECTORY = "/workspace"
BUILD, PUSH, CMD = "build", "push", "cmd"
STEP_KINDS = (BUILD, PUSH, CMD)
START_AT_ONCE = "-"  # `when: ["-"]`
STEP_ID_PREFIX = "acb_step_"  # ids of steps that name none: acb_step_0, acb_step_1, ...


@dataclass(frozen=True, slots=True)
class Secret:
    id: str
    keyvault: str | None = None  # kept, not used: values come from the run's secret set
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    driver: str | None = None
    ipv6: bool = False
    skip_creation: bool = False
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    secret: dict[str, str] = field(default_factory=dict)  # file name -> content


@dataclass(frozen=True, slots=True)
class VolumeMount:
    name: str
    mount_path: str


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # build, push or cmd
    id: str
    line: int
    build: str | None = None  # the build arguments, as `docker build` takes them
    push: tuple[str, ...] = ()
    cmd: str | None = None  # image then its arguments
    when: tuple[str, ...] | None = None  # None: after the previous step
    detach: bool = False
    env: tuple[str, ...] = ()
    entry_point: str | None = None
    ports: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    timeout: int = DEFAULT_STEP_TIMEOUT  # seconds
    ignore_errors: bool = False
    retries: int = 0
    retry_delay: int = 0  # seconds
    repeat: int = 0
    start_delay: int = 0  # seconds
    keep: bool = False
    working_directory: str | None = None
    user: str | None = None
    network: str | None = None
    privileged: bool = False
    pull: bool = False
    secret: str | None = None
    cache: bool = True
    disable_working_directory_override: bool = False
    isolation: str | None = None
    volume_mounts: tuple[VolumeMount, ...] = ()
    field_lines: tuple[tuple[str, int], ...] = ()  # where each field's value starts

    def line_of(self, name: str) -> int:
        return dict(self.field_lines).get(name, self.line)


@dataclass(frozen=True, slots=True)
class TaskFile:
    version: str = DEFAULT_VERSION
    step_timeout: int = DEFAULT_STEP_TIMEOUT
    working_directory: str = DEFAULT_WORKING_DIRECTORY
    env: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()
    networks: tuple[Network, ...] = ()
    volumes: tuple[Volume, ...] = ()
    steps: tuple[Step, ...] = ()

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

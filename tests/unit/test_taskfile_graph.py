"""The step graph from `when`, and which steps may start as others succeed or fail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockyard.tasks.taskfile import (
    Plan,
    RunContext,
    TaskFileInvalid,
    dependencies,
    load_task_file,
    parse_task_file,
)


def plan_of(text: str) -> Plan:
    return Plan.of(parse_task_file(text).steps)


SEQUENTIAL = "steps:\n  - id: a\n    cmd: a\n  - id: b\n    cmd: b\n  - id: c\n    cmd: c\n"
PARALLEL = """\
steps:
  - id: a
    cmd: a
  - id: b
    cmd: b
    when: ["-"]
  - id: c
    cmd: c
    when: [a, b]
  - id: d
    cmd: d
    when: [a]
  - id: e
    cmd: e
"""


def test_no_when_waits_for_the_previous_step() -> None:
    assert dependencies(parse_task_file(SEQUENTIAL).steps) == {"a": (), "b": ("a",), "c": ("b",)}


def test_dash_starts_at_once_and_a_list_waits_for_all() -> None:
    assert plan_of(PARALLEL).waits_for == {
        "a": (),
        "b": (),
        "c": ("a", "b"),
        "d": ("a",),
        "e": ("d",),  # the step written before it
    }


def test_ready_sets_as_steps_finish() -> None:
    plan = plan_of(PARALLEL)
    assert plan.ready(succeeded=[]) == ["a", "b"]
    assert plan.ready(succeeded=[], started=["a"]) == ["b"]
    assert plan.ready(succeeded=["a"], started=["a", "b"]) == ["d"]
    assert plan.ready(succeeded=["a", "b"], started=["a", "b"]) == ["c", "d"]
    assert plan.ready(succeeded=["a", "b", "d"], started=["a", "b", "c", "d"]) == ["e"]
    assert plan.ready(succeeded=["a", "b", "c", "d", "e"]) == []
    assert plan.finished(succeeded=["a", "b", "c", "d", "e"], failed=[])


def test_order_is_topological_and_stable() -> None:
    assert plan_of(PARALLEL).order() == ["a", "b", "c", "d", "e"]
    assert plan_of(SEQUENTIAL).order() == ["a", "b", "c"]
    text = (
        "steps:\n  - id: late\n    cmd: x\n    when: [early]\n"
        "  - id: early\n    cmd: y\n    when: ['-']\n"
    )
    assert plan_of(text).order() == ["early", "late"]


def test_no_when_after_a_step_waiting_for_it_is_a_cycle() -> None:
    # `early` has no when, so it waits for the step written before it: `late`.
    text = "steps:\n  - id: late\n    cmd: x\n    when: [early]\n  - id: early\n    cmd: y\n"
    with pytest.raises(
        TaskFileInvalid, match="line 4: step 'late': when makes a cycle 'late' -> 'early' -> 'late'"
    ):
        parse_task_file(text)


def test_a_failure_stops_its_dependants_and_only_them() -> None:
    plan = plan_of(PARALLEL)
    assert plan.blocked(failed=["a"]) == {"c", "d", "e"}
    assert plan.ready(succeeded=["b"], failed=["a"], started=["a", "b"]) == []
    assert plan.finished(succeeded=["b"], failed=["a"], started=["a", "b"])
    assert plan.outcome_failed(failed=["a"])
    assert plan.blocked(failed=["b"]) == {"c"}
    assert plan.ready(succeeded=["a"], failed=["b"], started=["a", "b"]) == ["d"]
    assert not plan.finished(succeeded=["a"], failed=["b"], started=["a", "b"])


def test_ignore_errors_lets_dependants_go_on() -> None:
    text = PARALLEL.replace(
        "  - id: a\n    cmd: a\n", "  - id: a\n    cmd: a\n    ignoreErrors: true\n"
    )
    plan = plan_of(text)
    assert plan.ignores_errors == {"a"}
    assert plan.blocked(failed=["a"]) == set()
    assert plan.ready(succeeded=["b"], failed=["a"], started=["a", "b"]) == ["c", "d"]
    assert not plan.outcome_failed(failed=["a"])
    assert plan.outcome_failed(failed=["a", "b"])


def test_running_steps_keep_the_run_unfinished() -> None:
    plan = plan_of(PARALLEL)
    assert not plan.finished(succeeded=["b"], failed=["a"], started=["a", "b", "x"])
    assert not plan.finished(succeeded=[], failed=[], started=["a", "b"])


def test_dependants() -> None:
    assert plan_of(PARALLEL).dependants("a") == ("c", "d")


def test_a_cycle_cannot_be_ordered() -> None:
    from dockyard.tasks.taskfile.model import Step

    steps = [Step("cmd", "a", 1, cmd="a", when=("b",)), Step("cmd", "b", 2, cmd="b", when=("a",))]
    with pytest.raises(ValueError, match="cycle"):
        Plan.of(steps).order()


SEED = """\
version: v1.1.0
stepTimeout: 1200
secrets:
  - id: deploy-token
alias:
  values:
    app: $Registry/shop/web
    helm: $Registry/tools/helm:3
steps:
  # (1) build the web application
  - id: build-app
    build: -t $app:$ID -t $app:{{.Run.Branch}} -f web/Dockerfile web
  - push: ["$app:$ID"]
    when: [build-app]
  # (2) run it detached, reachable as "web" on the run's network
  - id: web
    cmd: $app:$ID
    detach: true
    ports: ["8080"]
    when: [build-app]
  # (3) build the test image, at the same time as the application
  - id: build-tests
    build: -t shop/tests:$ID -f tests/Dockerfile tests
    when: ["-"]
  # (4) run the tests against the running application, by its id
  - id: test
    cmd: shop/tests:$ID --target http://web:8080
    env: [TARGET=http://web:8080]
    when: [web, build-tests]
    timeout: 10m
  # (5) package the chart and push it as a Helm OCI artifact
  - id: package
    cmd: $helm package chart --version 1.0.{{.Values.patch}} --app-version $ID
    when: [test]
  - id: chart-push
    cmd: $helm push web-1.0.{{.Values.patch}}.tgz oci://$Registry/charts
    when: [package]
    retries: 2
    retryDelay: 5
  # (6) upgrade the deployment target with that chart
  - id: upgrade
    cmd: >-
      $helm upgrade --install web oci://$Registry/charts/web --version 1.0.{{.Values.patch}}
      --set image=$app:$ID --kube-token {{.Secrets.deploy-token}}
    when: [chart-push]
"""


def test_the_seed_scenario_parses_renders_and_plans() -> None:
    run = RunContext(
        id="ca42",
        registry="127.0.0.1:5000",
        date=datetime(2026, 11, 28, tzinfo=UTC),
        commit="5f3e2a1",
        branch="main",
    )
    rendered = load_task_file(SEED, run, values={"patch": "7"}, secrets={"deploy-token": "tok-9"})
    task, plan = rendered.task, rendered.plan
    assert [s.id for s in task.steps] == [
        "build-app",
        "acb_step_1",
        "web",
        "build-tests",
        "test",
        "package",
        "chart-push",
        "upgrade",
    ]
    assert task.step("build-app").build == (
        "-t 127.0.0.1:5000/shop/web:ca42 -t 127.0.0.1:5000/shop/web:main -f web/Dockerfile web"
    )
    assert task.steps[1].push == ("127.0.0.1:5000/shop/web:ca42",)
    assert task.step("web").detach is True
    assert task.step("test").timeout == 600
    assert task.step("package").timeout == 1200
    assert task.step("chart-push").cmd == (
        "127.0.0.1:5000/tools/helm:3 push web-1.0.7.tgz oci://127.0.0.1:5000/charts"
    )
    upgrade = task.step("upgrade").cmd
    assert upgrade is not None
    assert "--kube-token tok-9" in upgrade
    assert rendered.mask(upgrade).endswith("--kube-token ***")

    # The application build and the test build start together; the tests wait for both the
    # running application and their image.
    assert plan.ready(succeeded=[]) == ["build-app", "build-tests"]
    started = {"build-app", "build-tests"}
    assert plan.ready(succeeded=["build-app"], started=started) == ["acb_step_1", "web"]
    started |= {"acb_step_1", "web"}
    done = ["build-app", "build-tests", "acb_step_1", "web"]  # web counts once it runs
    assert plan.ready(succeeded=done, started=started) == ["test"]
    assert plan.order() == [
        "build-app",
        "build-tests",
        "acb_step_1",
        "web",
        "test",
        "package",
        "chart-push",
        "upgrade",
    ]

    # Failing tests stop the chart from being packaged, pushed and deployed.
    started |= {"test"}
    assert plan.blocked(failed=["test"]) == {"package", "chart-push", "upgrade"}
    assert plan.ready(succeeded=done, failed=["test"], started=started) == []
    assert plan.finished(succeeded=done, failed=["test"], started=started)
    assert plan.outcome_failed(failed=["test"])

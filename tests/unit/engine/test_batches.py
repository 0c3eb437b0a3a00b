"""Which fan-outs run in batches, and the per-item retry policy that replaces the task's."""

from __future__ import annotations

from autoagent.engine.batches import batch_size
from autoagent.engine.policy import RetryPolicy
from autoagent.errors import StepError
from autoagent.spec import RetryBackoff, Step


def _step(**fields) -> Step:
    return Step.model_validate(
        {"id": "fan", "agent": "echo", "for_each": "{{ params.xs }}", **fields}
    )


def test_only_a_fan_out_wider_than_the_batch_size_runs_in_batches(batches_of_50):
    assert batch_size(_step(), 50) == 1
    assert batch_size(_step(), 51) == 50
    assert batch_size(_step(for_each_batch=10), 11) == 10
    assert batch_size(_step(for_each_batch=10), 10) == 1
    assert batch_size(_step(for_each_batch=1), 10_000) == 1  # one task run per item
    assert batch_size(_step(agent="planner", input=None), 500) == 1


def test_item_retries_follow_the_step_policy():
    policy = RetryPolicy(
        retries=2,
        backoff=RetryBackoff(base_seconds=1, factor=3, max_seconds=60),
        retry_on=("timeout",),
    )
    flaky = StepError("slow", kind="timeout", retryable=True)
    assert policy.retries_after(flaky, 1) and policy.retries_after(flaky, 2)
    assert not policy.retries_after(flaky, 3)  # two retries: three attempts in all
    assert not policy.retries_after(StepError("no", kind="fail", retryable=True), 1)
    assert not policy.retries_after(StepError("no", kind="timeout", retryable=False), 1)
    assert not policy.retries_after(ValueError("engine"), 1)  # kind "error" is not in retry_on
    assert [policy.delay(1), policy.delay(2)] == [1, 3]


def test_jittered_delays_stay_near_the_backoff():
    policy = RetryPolicy(retries=1, backoff=RetryBackoff(base_seconds=10, jitter=0.5))
    delays = [policy.delay(1) for _ in range(200)]
    assert all(0 <= d <= 15 for d in delays) and len(set(delays)) > 1

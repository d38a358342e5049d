"""The engine's side of the task contract: resume, non-finite losses, evaluation, no checkpoints."""

import pytest

from dlcli.errors import UsageError

from .test_engine import _toy_setup


def test_resume_without_a_previous_run_is_an_error_not_a_silent_fresh_start(tmp_path):
    trainer, data = _toy_setup(tmp_path)
    with pytest.raises(UsageError, match="nothing to resume"):
        trainer.fit(data, data, resume=True)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()

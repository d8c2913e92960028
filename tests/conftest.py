import pytest

from engine.runtime.prepare import SESSIONS
from tests import models


@pytest.fixture(autouse=True)
def _fresh_sessions():
    """Each test sees a cold in-process session cache, so cache behaviour is observable."""
    SESSIONS.clear()
    yield
    SESSIONS.clear()


@pytest.fixture(autouse=True)
def _int8_timed_slower(monkeypatch):
    """`auto` on the CPU times int8 against fp32 once per model (issue 30). Tests decide that timing (int8 slower,
    unless a test passes its own `measure`), so what auto chooses never depends on the CPU running the suite or its
    load; tests/engine/runtime/test_int8_auto.py covers the choice itself."""
    from engine.runtime import int8_choice

    monkeypatch.setattr(int8_choice, "interleaved_medians", lambda fp32_run, int8_run: (1.0, 2.0))


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def model_file(tmp_path):
    def make(name: str, *args):
        return models.save(getattr(models, name)(*args), tmp_path / f"{name}.onnx")

    return make

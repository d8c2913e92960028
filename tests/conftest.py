import pytest

from engine.runtime.prepare import SESSIONS
from tests import models


@pytest.fixture(autouse=True)
def _fresh_sessions():
    """Each test sees a cold in-process session cache, so cache behaviour is observable."""
    SESSIONS.clear()
    yield
    SESSIONS.clear()


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def model_file(tmp_path):
    def make(name: str, *args):
        return models.save(getattr(models, name)(*args), tmp_path / f"{name}.onnx")

    return make

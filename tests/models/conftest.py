from __future__ import annotations

import pytest

from mmstack.models.transcriber import WhisperTranscriber
from tests.speech import session_transcriber


@pytest.fixture(scope="session")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> WhisperTranscriber:
    """Whisper base, loaded once for the test session."""
    return session_transcriber(tmp_path_factory)

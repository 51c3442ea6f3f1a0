from __future__ import annotations

import pytest

from mmstack.models.ocr import RapidTextReader
from tests.pictures import session_text_reader


@pytest.fixture(scope="session")
def text_reader(tmp_path_factory: pytest.TempPathFactory) -> RapidTextReader:
    """PP-OCRv6, loaded once for the test session."""
    return session_text_reader(tmp_path_factory)

"""Where one series lives on a DICOMweb server, as one line of text: the series' WADO-RS path,
`<service URL>/studies/<Study Instance UID>/series/<Series Instance UID>`. A batch over a PACS
records it as the series' folder in its manifest and worklist; the viewer reads it back to
retrieve the series when a worklist row is opened."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERN = re.compile(r"(?P<url>https?://.+?)/studies/(?P<study>[^/]+)/series/(?P<series>[^/]+)")


@dataclass(frozen=True)
class SeriesAddress:
    """One series on a DICOMweb server (`url` is the service root, as `Connection.url`)."""

    url: str
    study_uid: str
    series_uid: str

    @property
    def text(self) -> str:
        return f"{self.url.rstrip('/')}/studies/{self.study_uid}/series/{self.series_uid}"

    @classmethod
    def parse(cls, text: str) -> SeriesAddress | None:
        """The address `text` spells (as `text` writes it), None when it is not one (a folder)."""
        match = _PATTERN.fullmatch(text.strip())
        if match is None:
            return None
        return cls(match["url"], match["study"], match["series"])

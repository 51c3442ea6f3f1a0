"""Citation links: the `url_citation` a grounded answer carries, a signed URL to a page that
shows the cited place (the passage in its file's text, the PDF page with the quoted lines
outlined, the picture, or the recording at the second) to whoever holds the link, until it
expires (`knowledge.citation_link_minutes`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmstack.answer.types import Citation
from mmstack.auth.signed_links import LinkNotValidError, SignedLinks

KIND = "cite"


@dataclass(frozen=True, slots=True)
class CitedPlace:
    """What a citation link names, in its team."""

    team_id: str
    collection_id: str
    file_id: str
    quote_start: int
    quote_end: int
    page: int | None = None
    seconds: float | None = None
    region: tuple[int, int, int, int] | None = None  # of a picture: left, top, right, bottom

    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "t": self.team_id,
            "c": self.collection_id,
            "f": self.file_id,
            "q": [self.quote_start, self.quote_end],
        }
        if self.page is not None:
            claims["p"] = self.page
        if self.seconds is not None:
            claims["s"] = round(self.seconds, 2)
        if self.region is not None:
            claims["r"] = list(self.region)
        return claims

    @classmethod
    def of_claims(cls, claims: dict[str, Any]) -> CitedPlace:
        start, end = claims["q"]
        return cls(
            team_id=str(claims["t"]),
            collection_id=str(claims["c"]),
            file_id=str(claims["f"]),
            quote_start=int(start),
            quote_end=int(end),
            page=claims.get("p"),
            seconds=claims.get("s"),
            region=_region(claims.get("r")),
        )


class RequestCitationLinks:
    """Links for one request's answer: absolute URLs under the server's address as the
    client reached it (behind a proxy's path prefix too)."""

    def __init__(self, links: SignedLinks, base_url: str, team_id: str) -> None:
        self._links = links
        self._base = base_url if base_url.endswith("/") else base_url + "/"
        self._team_id = team_id

    def url(self, citation: Citation) -> str:
        place = CitedPlace(
            team_id=self._team_id,
            collection_id=citation.collection_id,
            file_id=citation.file_id,
            quote_start=citation.quote_start,
            quote_end=citation.quote_end,
            page=citation.page_start,
            seconds=citation.time_start,
            region=citation.region,
        )
        return f"{self._base}cite/{self._links.sign(KIND, place.claims())}"


def _region(value: Any) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    left, top, right, bottom = (int(v) for v in value)
    return left, top, right, bottom


def cited_place(links: SignedLinks, token: str) -> CitedPlace:
    """The place a link's token names (a `LinkNotValidError` when forged or expired)."""
    claims = links.verify(KIND, token)
    try:
        return CitedPlace.of_claims(claims)
    except (KeyError, TypeError, ValueError):
        raise LinkNotValidError("this link is not valid") from None

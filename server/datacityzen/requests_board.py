"""The quantity request board: citizens propose a new quantity to measure (radon, UV, soil moisture...),
others vote and comment, mediators set a status and moderate.

Anti-spam, simple and without accounts or cookies:
- a form token: an HMAC-signed issue time; a post needs one at least `MIN_FILL_S` seconds and at most
  `MAX_TOKEN_AGE` old (bots post instantly, or replay a token for days);
- a honeypot field `website` that people never see and must leave empty;
- per client, at most `MAX_REQUESTS_PER_HOUR` proposals and `MAX_COMMENTS_PER_HOUR` comments; at most
  `MAX_LINKS` links in a text; no second open request with the same title;
- one vote per request per client.
A client is the HMAC of its address with a secret kept in the database: the address itself is never stored.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .store.requests_board import BoardStore

STATUSES = {
    "proposed": {"en": "proposed", "fr": "proposée"},
    "considered": {"en": "considered", "fr": "à l'étude"},
    "prototyping": {"en": "prototyping a kit", "fr": "kit en prototype"},
    "available": {"en": "available", "fr": "disponible"},
    "declined": {"en": "declined", "fr": "écartée"},
}
MIN_FILL_S = 3
MAX_TOKEN_AGE = timedelta(days=1)
MAX_REQUESTS_PER_HOUR = 3
MAX_COMMENTS_PER_HOUR = 20
MAX_LINKS = 2
_URL_RE = re.compile(r"https?://|www\.", re.I)


class BoardError(ValueError):
    """Bad input; `status` is the HTTP status to answer with, the message is bilingual."""

    def __init__(self, en: str, fr: str, status: int = 400):
        super().__init__(f"{en} / {fr}")
        self.status = status


@dataclass
class Board:
    store: object
    clock: object = time.time

    @property
    def db(self) -> BoardStore:
        return BoardStore.of(self.store)

    def client_key(self, address: str) -> str:
        return hmac.new(self.db.secret("board-client"), address.encode(), hashlib.sha256).hexdigest()

    def form_token(self) -> str:
        issued = str(int(self.clock()))
        sig = hmac.new(self.db.secret("board-form"), issued.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{issued}.{sig}"

    def check_form(self, token: str | None, honeypot: str | None) -> None:
        if honeypot:
            raise BoardError("rejected as spam", "refusé comme indésirable")
        issued, _, sig = (token or "").partition(".")
        good = hmac.new(self.db.secret("board-form"), issued.encode(), hashlib.sha256).hexdigest()[:32]
        if not issued.isdigit() or not hmac.compare_digest(sig, good):
            raise BoardError("form token missing or invalid: reload the page (or GET /api/v1/requests/form-token)",
                             "jeton de formulaire absent ou invalide : rechargez la page")
        age = self.clock() - int(issued)
        if age < MIN_FILL_S:
            raise BoardError(f"too fast: wait {MIN_FILL_S} seconds after loading the form",
                             f"trop rapide : attendez {MIN_FILL_S} secondes après l'ouverture du formulaire", 429)
        if age > MAX_TOKEN_AGE.total_seconds():
            raise BoardError("form expired: reload the page", "formulaire expiré : rechargez la page")

    @staticmethod
    def _text(value, name: str, low: int, high: int, nom: str) -> str:
        text = " ".join(str(value or "").split()) if name != "text" else str(value or "").strip()
        if not low <= len(text) <= high:
            raise BoardError(f"{name}: give {low} to {high} characters", f"{nom} : entre {low} et {high} caractères")
        if len(_URL_RE.findall(text)) > MAX_LINKS:
            raise BoardError(f"{name}: at most {MAX_LINKS} links", f"{nom} : {MAX_LINKS} liens au plus")
        return text

    def _since(self) -> datetime:
        return datetime.fromtimestamp(self.clock() - 3600, tz=timezone.utc).replace(tzinfo=None)

    def propose(self, title, description, author, address: str) -> int:
        title = self._text(title, "title", 3, 80, "titre")
        description = self._text(description, "description", 10, 2000, "description")
        author = self._text(author or "anonyme", "author", 1, 60, "auteur")
        key = self.client_key(address)
        if self.db.recent_count("quantity_requests", key, self._since()) >= MAX_REQUESTS_PER_HOUR:
            raise BoardError(f"at most {MAX_REQUESTS_PER_HOUR} proposals an hour", f"{MAX_REQUESTS_PER_HOUR} propositions par heure au plus", 429)
        if self.db.title_exists(title):
            raise BoardError("a request with this title exists: vote for it", "une demande porte déjà ce titre : votez pour elle", 409)
        return self.db.add_request(title, description, author, key)

    def comment(self, request_id: int, text, author, address: str) -> int:
        if not 1 <= request_id < 2**62 or self.db.request(request_id) is None:
            raise BoardError(f"no request {request_id}", f"aucune demande {request_id}", 404)
        text = self._text(text, "text", 2, 1000, "texte")
        author = self._text(author or "anonyme", "author", 1, 60, "auteur")
        key = self.client_key(address)
        if self.db.recent_count("quantity_request_comments", key, self._since()) >= MAX_COMMENTS_PER_HOUR:
            raise BoardError(f"at most {MAX_COMMENTS_PER_HOUR} comments an hour", f"{MAX_COMMENTS_PER_HOUR} commentaires par heure au plus", 429)
        return self.db.add_comment(request_id, author, text, key)

    def vote(self, request_id: int, address: str) -> bool:
        if not 1 <= request_id < 2**62 or self.db.request(request_id) is None:
            raise BoardError(f"no request {request_id}", f"aucune demande {request_id}", 404)
        return self.db.vote(request_id, self.client_key(address))

    def moderate(self, request_id: int, status=None, hidden=None, note=None) -> dict:
        if status is not None and status not in STATUSES:
            raise BoardError(f"status must be one of {', '.join(STATUSES)}", f"le statut doit être parmi {', '.join(STATUSES)}")
        if note is not None:
            note = self._text(note, "note", 0, 500, "note")
        if not self.db.moderate_request(request_id, status, hidden, note):
            raise BoardError(f"no request {request_id}", f"aucune demande {request_id}", 404)
        return self.db.request(request_id, include_hidden=True)

"""The request board's pages: plain HTML forms (no JavaScript needed, no cookies), French and English,
kept for offline reading by a service worker."""
from __future__ import annotations

from html import escape
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..api.requests_board import board_of, client_address
from ..requests_board import STATUSES, BoardError
from .home import pick_language
from .page_shell import page, service_worker

router = APIRouter(include_in_schema=False)

TEXT = {
    "en": {"title": "What should we measure next?", "switch": "Français",
           "intro": "Propose a new quantity to measure (radon, UV, soil moisture, ...), vote for the ideas you want, and comment. Mediators say what becomes of each one.",
           "vote": "Vote", "votes": "votes", "comments": "comments", "status": "Status", "propose": "Propose a quantity",
           "title_f": "Quantity", "description": "Why, where, how", "author": "Your name (optional)", "send": "Send",
           "comment": "Comment", "text": "Your comment", "back": "All requests", "none": "No request yet: be the first.",
           "ok_vote": "Thank you for your vote.", "ok_new": "Thank you: your proposal is on the board.",
           "ok_comment": "Thank you for your comment.", "already": "You already voted for this one.", "note": "Mediators"},
    "fr": {"title": "Que devrions-nous mesurer ensuite ?", "switch": "English",
           "intro": "Proposez une nouvelle grandeur à mesurer (radon, UV, humidité du sol, ...), votez pour les idées qui vous tiennent à cœur et commentez. Les médiateurs disent ce que devient chacune.",
           "vote": "Voter", "votes": "votes", "comments": "commentaires", "status": "Statut", "propose": "Proposer une grandeur",
           "title_f": "Grandeur", "description": "Pourquoi, où, comment", "author": "Votre nom (facultatif)", "send": "Envoyer",
           "comment": "Commenter", "text": "Votre commentaire", "back": "Toutes les demandes", "none": "Aucune demande pour l'instant : lancez-vous.",
           "ok_vote": "Merci pour votre vote.", "ok_new": "Merci : votre proposition est affichée.",
           "ok_comment": "Merci pour votre commentaire.", "already": "Vous avez déjà voté pour celle-ci.", "note": "Médiateurs"},
}
EXTRA_STYLE = ".hp{position:absolute;left:-10000px} .status{font-weight:600} form.inline{display:inline} textarea{width:100%}"


def _message(request: Request, t: dict) -> str:
    msg, err = request.query_params.get("msg"), request.query_params.get("error")
    if err:
        return f'<p class="error" role="alert">{escape(err[:300])}</p>'
    if msg in ("ok_vote", "ok_new", "ok_comment", "already"):
        return f'<p class="notice" role="status">{t[msg]}</p>'
    return ""


def _hidden_fields(token: str, lang: str) -> str:
    return (f'<input type="hidden" name="form_token" value="{escape(token)}"><input type="hidden" name="lang" value="{lang}">'
            f'<label class="hp" aria-hidden="true">Website <input name="website" tabindex="-1" autocomplete="off"></label>')


def _status(r: dict, lang: str) -> str:
    return f'<span class="status status-{r["status"]}">{escape(STATUSES[r["status"]][lang])}</span>'


@router.get("/requests")
def requests_redirect():
    return RedirectResponse("/requests/", status_code=308)


@router.get("/requests/", response_class=HTMLResponse)
def board_page(request: Request):
    lang = pick_language(request)
    t, board = TEXT[lang], board_of(request)
    items = []
    for r in board.db.requests():
        items.append(
            f'<div class="card request" data-request="{r["id"]}"><h2><a href="/requests/{r["id"]}?lang={lang}">{escape(r["title"])}</a></h2>'
            f'<p>{escape(r["description"])}</p><p class="muted">{escape(r["author"])} · {t["status"]}: {_status(r, lang)} · '
            f'<span class="votes">{r["votes"]}</span> {t["votes"]} · {r["comments_count"]} {t["comments"]}</p>'
            f'<form class="inline" method="post" action="/requests/{r["id"]}/vote"><input type="hidden" name="lang" value="{lang}">'
            f'<button type="submit">{t["vote"]}</button></form></div>')
    form = (f'<div class="card"><h2>{t["propose"]}</h2><form id="propose" method="post" action="/requests/propose">'
            f'{_hidden_fields(board.form_token(), lang)}'
            f'<p><label>{t["title_f"]}<br><input name="title" required minlength="3" maxlength="80"></label></p>'
            f'<p><label>{t["description"]}<br><textarea name="description" required minlength="10" maxlength="2000" rows="4"></textarea></label></p>'
            f'<p><label>{t["author"]}<br><input name="author" maxlength="60"></label></p>'
            f'<button type="submit">{t["send"]}</button></form></div>')
    body = f'<p>{t["intro"]}</p>{_message(request, t)}{"".join(items) or "<p>" + t["none"] + "</p>"}{form}'
    return HTMLResponse(page(lang, t["title"], body, sw="/requests/sw.js", switch=t["switch"], extra_style=EXTRA_STYLE),
                        headers={"Content-Language": lang})


@router.get("/requests/sw.js")
def board_sw():
    return service_worker("/requests/", "dcz-requests-v1")


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, request_id: int):
    lang = pick_language(request)
    t, board = TEXT[lang], board_of(request)
    r = board.db.request(request_id) if 1 <= request_id < 2**62 else None
    if r is None:
        return HTMLResponse(page(lang, "404", f'<p><a href="/requests/?lang={lang}">{t["back"]}</a></p>', sw="/requests/sw.js",
                                 switch=t["switch"]), status_code=404)
    note = f'<p><strong>{t["note"]}</strong>: {escape(r["mediator_note"])}</p>' if r["mediator_note"] else ""
    comments = "".join(f'<li data-comment="{c["id"]}"><strong>{escape(c["author"])}</strong>: {escape(c["text"])}</li>'
                       for c in r["comments"])
    body = (f'<p><a href="/requests/?lang={lang}">← {t["back"]}</a></p>{_message(request, t)}'
            f'<div class="card request" data-request="{r["id"]}"><h2>{escape(r["title"])}</h2><p>{escape(r["description"])}</p>'
            f'<p class="muted">{t["status"]}: {_status(r, lang)} · <span class="votes">{r["votes"]}</span> {t["votes"]}</p>{note}'
            f'<form class="inline" method="post" action="/requests/{r["id"]}/vote"><input type="hidden" name="lang" value="{lang}">'
            f'<button type="submit">{t["vote"]}</button></form></div>'
            f'<div class="card"><h2>{t["comments"]}</h2><ul id="comments">{comments}</ul>'
            f'<form id="comment" method="post" action="/requests/{r["id"]}/comment">{_hidden_fields(board.form_token(), lang)}'
            f'<p><label>{t["text"]}<br><textarea name="text" required minlength="2" maxlength="1000" rows="3"></textarea></label></p>'
            f'<p><label>{t["author"]}<br><input name="author" maxlength="60"></label></p>'
            f'<button type="submit">{t["comment"]}</button></form></div>')
    return HTMLResponse(page(lang, r["title"], body, sw="/requests/sw.js", switch=t["switch"], extra_style=EXTRA_STYLE),
                        headers={"Content-Language": lang})


def _back(path: str, lang: str, **query) -> RedirectResponse:
    q = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    return RedirectResponse(f"{path}?lang={lang}&{q}", status_code=303)


def _lang(value: str) -> str:
    return value if value in TEXT else "fr"


async def _form(request: Request) -> dict[str, str]:
    """URL-encoded form fields (parsed here: no python-multipart needed); bodies over 16 KiB are cut."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 16 * 1024:
            break
    return {k: v[0] for k, v in parse_qs(body[:16 * 1024].decode("utf-8", "replace"), keep_blank_values=True).items()}


@router.post("/requests/propose")
async def propose_form(request: Request):
    f = await _form(request)
    lang, board = _lang(f.get("lang", "fr")), board_of(request)
    try:
        board.check_form(f.get("form_token"), f.get("website"))
        board.propose(f.get("title"), f.get("description"), f.get("author") or None, client_address(request))
    except BoardError as exc:
        return _back("/requests/", lang, error=str(exc))
    return _back("/requests/", lang, msg="ok_new")


@router.post("/requests/{request_id}/vote")
async def vote_form(request: Request, request_id: int):
    f = await _form(request)
    lang, board = _lang(f.get("lang", "fr")), board_of(request)
    try:
        if not 1 <= request_id < 2**62:
            raise BoardError(f"no request {request_id}", f"aucune demande {request_id}", 404)
        new = board.vote(request_id, client_address(request))
    except BoardError as exc:
        return _back("/requests/", lang, error=str(exc))
    return _back("/requests/", lang, msg="ok_vote" if new else "already")


@router.post("/requests/{request_id}/comment")
async def comment_form(request: Request, request_id: int):
    f = await _form(request)
    lang, board = _lang(f.get("lang", "fr")), board_of(request)
    try:
        board.check_form(f.get("form_token"), f.get("website"))
        board.comment(request_id, f.get("text"), f.get("author") or None, client_address(request))
    except BoardError as exc:
        return _back(f"/requests/{request_id}", lang, error=str(exc))
    return _back(f"/requests/{request_id}", lang, msg="ok_comment")

"""The quantity request board's API: list, propose, vote, comment; mediators (admin token) moderate."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..requests_board import STATUSES, Board, BoardError
from .deps import app_object, iso_utc

router = APIRouter(prefix="/api/v1/requests", tags=["quantity requests"])
REQUEST_ID = Path(..., ge=1, le=2**62)


def require_mediator(request: Request) -> None:
    """Mediators act with the operator's admin token (Authorization: Bearer <DCZ_ADMIN_TOKEN>)."""
    from .admin import require_admin

    require_admin(request)


Mediator = Annotated[None, Depends(require_mediator)]


def board_of(request: Request) -> Board:
    return app_object(request, "board", lambda state: Board(state.store))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def public(r: dict, lang: str | None = None) -> dict:
    out = {"id": r["id"], "title": r["title"], "description": r["description"], "author": r["author"],
           "status": r["status"], "status_label": STATUSES[r["status"]], "mediator_note": r["mediator_note"],
           "votes": r["votes"], "comments_count": r["comments_count"], "created_at": iso_utc(r["created_at"]),
           "updated_at": iso_utc(r["updated_at"])}
    if "comments" in r:
        out["comments"] = [{"id": c["id"], "author": c["author"], "text": c["text"],
                            "created_at": iso_utc(c["created_at"]), **({"hidden": True} if c["hidden"] else {})}
                           for c in r["comments"]]
    if r["hidden"]:
        out["hidden"] = True
    return out


def _fail(exc: BoardError) -> HTTPException:
    return HTTPException(status_code=exc.status, detail=str(exc))


class Proposal(BaseModel):
    title: str = Field(..., max_length=200, examples=["Radon"])
    description: str = Field(..., max_length=4000)
    author: str | None = Field(None, max_length=200)
    form_token: str = Field(..., max_length=100)
    website: str | None = Field(None, max_length=200, description="honeypot: leave empty")


class Comment(BaseModel):
    text: str = Field(..., max_length=4000)
    author: str | None = Field(None, max_length=200)
    form_token: str = Field(..., max_length=100)
    website: str | None = Field(None, max_length=200, description="honeypot: leave empty")


class Moderation(BaseModel):
    status: str | None = Field(None, description=f"one of {', '.join(STATUSES)}")
    hidden: bool | None = None
    note: str | None = Field(None, max_length=1000)


class CommentModeration(BaseModel):
    hidden: bool


@router.get("", summary="Open requests, most voted first")
def list_requests(request: Request):
    return {"statuses": STATUSES, "requests": [public(r) for r in board_of(request).db.requests()]}


@router.get("/form-token", summary="A form token (post it 3 s to 24 h later)")
def form_token(request: Request):
    return {"form_token": board_of(request).form_token()}


@router.post("", status_code=201, summary="Propose a new quantity to measure")
def propose(body: Proposal, request: Request):
    board = board_of(request)
    try:
        board.check_form(body.form_token, body.website)
        rid = board.propose(body.title, body.description, body.author, client_address(request))
    except BoardError as exc:
        raise _fail(exc) from None
    return public(board.db.request(rid))


@router.get("/{request_id}", summary="One request and its comments")
def get_request(request: Request, request_id: int = REQUEST_ID):
    r = board_of(request).db.request(request_id)
    if r is None:
        raise HTTPException(404, f"no request {request_id} / aucune demande {request_id}")
    return public(r)


@router.post("/{request_id}/votes", summary="Vote for a request (once per client)")
def vote(request: Request, request_id: int = REQUEST_ID):
    board = board_of(request)
    try:
        new = board.vote(request_id, client_address(request))
    except BoardError as exc:
        raise _fail(exc) from None
    votes = board.db.request(request_id)["votes"]
    if not new:
        return JSONResponse({"detail": "already voted / déjà voté", "votes": votes}, status_code=409)
    return JSONResponse({"votes": votes}, status_code=201)


@router.post("/{request_id}/comments", status_code=201, summary="Comment on a request")
def comment(body: Comment, request: Request, request_id: int = REQUEST_ID):
    board = board_of(request)
    try:
        board.check_form(body.form_token, body.website)
        cid = board.comment(request_id, body.text, body.author, client_address(request))
    except BoardError as exc:
        raise _fail(exc) from None
    return {"id": cid, "request": public(board.db.request(request_id))}


@router.patch("/{request_id}", summary="Mediators: set the status, a note, hide or show")
def moderate(body: Moderation, request: Request, _: Mediator, request_id: int = REQUEST_ID):
    try:
        return public(board_of(request).moderate(request_id, body.status, body.hidden, body.note))
    except BoardError as exc:
        raise _fail(exc) from None


@router.patch("/{request_id}/comments/{comment_id}", summary="Mediators: hide or show a comment")
def moderate_comment(body: CommentModeration, request: Request, _: Mediator, request_id: int = REQUEST_ID,
                     comment_id: int = Path(..., ge=1, le=2**62)):
    if not board_of(request).db.moderate_comment(request_id, comment_id, body.hidden):
        raise HTTPException(404, f"no comment {comment_id} on request {request_id} / commentaire inconnu")
    return public(board_of(request).db.request(request_id, include_hidden=True))

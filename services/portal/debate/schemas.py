"""What the debate's JSON route answers: a subject's thread as any visitor reads it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CommentOut(BaseModel):
    id: str
    author_name: str
    in_reply_to: str | None
    shown: str = Field(description="text, hidden (by moderation: a placeholder) or withdrawn")
    body: str | None = Field(description="null unless shown is text")
    created_at: datetime
    edited: bool


class ThreadOut(BaseModel):
    subject_kind: str
    subject_id: str
    comments: list[CommentOut] = Field(description="top-level comments, each then its replies")

"""The API's own documentation: /openapi.json, /docs (Swagger UI) and /redoc, served where
Settings.docs_enabled says (every environment but prod); elsewhere they are 404 like any unknown path."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from service.config import Settings

OPENAPI_PATH = "/openapi.json"
TITLE = "service API"


async def _docs_enabled(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if not settings.docs_enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND)


router = APIRouter(include_in_schema=False, dependencies=[Depends(_docs_enabled)])


@router.get(OPENAPI_PATH)
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=OPENAPI_PATH, title=TITLE)


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url=OPENAPI_PATH, title=TITLE)

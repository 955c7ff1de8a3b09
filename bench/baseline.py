"""Baseline for `make bench`: a bare FastAPI hello-world, served with the service's uvicorn settings."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}

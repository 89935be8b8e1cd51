# Production image of one Matchpot node. Postgres and Redis come from outside
# (DATABASE_URL / REDIS_URL), so the embedded services are never started here.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ledger
COPY matchmaking matchmaking
COPY rooms rooms
COPY server server
COPY clients clients
RUN pip install --no-cache-dir . ./clients/python
ENV MATCHPOT_HOST=0.0.0.0 MATCHPOT_PORT=8000 MATCHPOT_LOG_FORMAT=json MATCHPOT_WEB_DIR=/app/clients/web
EXPOSE 8000
CMD ["matchpot", "serve"]

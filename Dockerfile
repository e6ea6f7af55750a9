# scenedex image: the API, the workers and the migrations. SCENEDEX_GPU=1 builds the CUDA variant (worker-gpu).
FROM python:3.11-slim
ARG SCENEDEX_GPU=0
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY scenedex scenedex
COPY indexer indexer
COPY search search
COPY qa qa
COPY db db
COPY workers workers
COPY web web
# CPU torch unless the GPU variant is asked for (then the default CUDA wheel and faiss-gpu).
RUN if [ "$SCENEDEX_GPU" = 1 ]; then pip install --no-cache-dir torch==2.13.0 && pip install --no-cache-dir -c constraints.txt ".[gpu]"; \
    else pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
         && pip install --no-cache-dir -c constraints.txt .; fi
ENV SCENEDEX_DATA_DIR=/data
EXPOSE 8765
CMD ["scenedex", "serve", "--host", "0.0.0.0"]

"""The official `openai` npm client against inferd's /v1/embeddings, with an API key, as users
run it (float and its default base64 encoding, dimensions, errors)."""
import json
import os
import subprocess

import pytest

import conftest
from conftest import CLIENTS
from embed_models import expected, make_folder


@pytest.fixture(scope="module")
def node_clients():
    conftest.node_clients("openai")
    return CLIENTS


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("embed-client-repo")
    make_folder(str(d), "minilm", pooling="mean")
    return str(d)


def run_client(srv, key, model, inputs, fmt="default", dims=None):
    args = ["node", os.path.join(CLIENTS, "openai_embed.mjs"), "http://127.0.0.1:%d/v1" % srv.port,
            key, model, json.dumps(inputs), fmt] + ([str(dims)] if dims else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return p.returncode, (json.loads(p.stdout) if p.returncode == 0 else json.loads(p.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("fmt", ["default", "float", "base64"])
def test_openai_client_embeds(node_clients, server_factory, repo, fmt):
    srv = server_factory("--models", repo, "--api-keys", "sk-test", "--access-log", "false")
    items = expected()["items"][:4]
    rc, out = run_client(srv, "sk-test", "minilm", [i["text"] for i in items], fmt)
    assert rc == 0, out
    assert out["model"] == "minilm" and out["object"] == "list"
    ntok = sum(len(i["input_ids"]) for i in items)
    assert out["usage"]["prompt_tokens"] == ntok
    for d, item in zip(out["data"], items):
        assert max(abs(a - b) for a, b in zip(d["embedding"], item["mean_normalized"])) <= 1e-5


def test_openai_client_errors(node_clients, server_factory, repo):
    srv = server_factory("--models", repo, "--api-keys", "sk-test", "--access-log", "false")
    rc, out = run_client(srv, "wrong", "minilm", ["x"])
    assert rc == 3 and out["status"] == 401
    rc, out = run_client(srv, "sk-test", "nope", ["x"])
    assert rc == 3 and out["status"] == 404 and "nope" in out["message"]
    rc, out = run_client(srv, "sk-test", "minilm", ["x"], "float", 8)
    assert rc == 0 and len(out["data"][0]["embedding"]) == 8

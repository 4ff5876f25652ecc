"""An encoder exported with pooling inside the graph (output sentence_embedding, as
sentence-transformers' exports write it; opset 17 LayerNormalization, tanh GELU, no
token_type_ids): served as an embedding model, its answers for token-id inputs equal ONNX
Runtime's sentence_embedding (tests/fixtures/data/bert_ln17.*, made by tools/make_bert_fixtures.py),
whether a text runs alone or padded in a batch with others."""
import json
import os
import shutil
import threading

import pytest

from conftest import ROOT

FIX = os.path.join(ROOT, "tests", "fixtures")


def load(name):
    with open(os.path.join(FIX, "data", name)) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("ln17-repo") / "ln17"
    d.mkdir()
    shutil.copy(os.path.join(FIX, "models", "bert_ln17.onnx"), d / "model.onnx")
    # The graph's vocabulary has 120 ids; a WordPiece vocab of that size makes it a folder.
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["w%d" % i for i in range(5, 120)]
    (d / "vocab.txt").write_text("\n".join(words) + "\n")
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    (d / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    return str(d.parent)


def rows():
    inp = load("bert_ln17.b32.input.json")["inputs"]
    exp = load("bert_ln17.b32.expected.json")["outputs"]["sentence_embedding"]
    n, s = inp["input_ids"]["shape"]
    ids, mask = inp["input_ids"]["data"], inp["attention_mask"]["data"]
    dim = exp["shape"][1]
    out = []
    for r in range(n):
        length = sum(mask[r * s:(r + 1) * s])
        out.append((ids[r * s:r * s + length], exp["data"][r * dim:(r + 1) * dim]))
    return out


def test_sentence_embedding_output_matches_ort(server_factory, repo):
    srv = server_factory("--models", repo, "--access-log", "false")
    cases = rows()
    assert len(cases) == 32 and len({len(c[0]) for c in cases}) > 5

    def check(inputs, wants):
        r = srv.request("POST", "/v1/embeddings", {"Content-Type": "application/json"},
                        json.dumps({"model": "ln17", "input": inputs}).encode(), timeout=30)
        assert r.status == 200, r
        for d, want in zip(r.json()["data"], wants):
            got = d["embedding"]
            assert len(got) == len(want)
            assert max(abs(a - b) for a, b in zip(got, want)) <= 1e-5, (got[:4], want[:4])

    check([c[0] for c in cases], [c[1] for c in cases])  # one request: padded batches
    errors = []

    def one(c):
        try:
            check([c[0]], [c[1]])
        except AssertionError as e:  # reported below
            errors.append(str(e))

    threads = [threading.Thread(target=one, args=(c,)) for c in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    info = srv.request("GET", "/info").json()
    assert info["dimensions"] == 16 and info["max_input_length"] == 64


def test_graph_output_is_used_as_is(server_factory, repo):
    """normalize=false returns the graph's own (normalised) sentence_embedding, not a pooling of
    last_hidden_state, whose mean would not have unit length."""
    srv = server_factory("--models", repo, "--access-log", "false")
    r = srv.request("POST", "/embed", {"Content-Type": "application/json"},
                    json.dumps({"inputs": "w5 w6 w7 w8", "normalize": False}).encode())
    assert r.status == 200, r
    v = r.json()[0]
    assert abs(sum(x * x for x in v) - 1.0) < 1e-5

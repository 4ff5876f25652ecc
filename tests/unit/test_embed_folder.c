/* Unit tests for text/embed_folder: model folders laid out as sentence-transformers, TEI and
 * Xenova (onnx/) export them, built in temporary directories. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text/embed_folder.h"
#include "th.h"

static char root[256];
static char err[256];

static void put(const char *rel, const char *body)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    char *slash = strrchr(p, '/');
    *slash = 0;
    mkdir(p, 0755); /* one level is enough here */
    *slash = '/';
    FILE *f = fopen(p, "w");
    fputs(body, f);
    fclose(f);
}

static void wipe(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
}

static void fresh(void)
{
    if (root[0]) wipe();
    snprintf(root, sizeof root, "%s/embed_folder_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) abort();
}

static int readf(embed_folder_t *f)
{
    err[0] = 0;
    return embed_folder_read_path(root, f, err, sizeof err);
}

static const char *pool_cfg(const char *mode)
{
    static char b[512];
    snprintf(b, sizeof b,
             "{\"word_embedding_dimension\": 384, \"pooling_mode_cls_token\": %s, "
             "\"pooling_mode_mean_tokens\": %s, \"pooling_mode_max_tokens\": %s, "
             "\"pooling_mode_mean_sqrt_len_tokens\": false, \"pooling_mode_lasttoken\": %s}",
             strcmp(mode, "cls") ? "false" : "true", strcmp(mode, "mean") ? "false" : "true",
             strcmp(mode, "max") ? "false" : "true", strcmp(mode, "last") ? "false" : "true");
    return b;
}

static const char *modules_norm = "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_"
                                  "transformers.models.Transformer\"},"
                                  "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":"
                                  "\"sentence_transformers.models.Pooling\"},"
                                  "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\",\"type\":"
                                  "\"sentence_transformers.models.Normalize\"}]";

static void test_sentence_transformers(void)
{
    /* all-MiniLM-L6-v2 as on the hub: onnx/model.onnx, mean pooling, 256, Normalize listed. */
    fresh();
    put("onnx/model.onnx", "x");
    put("tokenizer.json", "{}");
    put("modules.json", modules_norm);
    put("1_Pooling/config.json", pool_cfg("mean"));
    put("sentence_bert_config.json", "{\"max_seq_length\": 256, \"do_lower_case\": false}");
    put("tokenizer_config.json", "{\"model_max_length\": 512}");
    embed_folder_t f;
    CHECK_EQ(readf(&f), 0);
    CHECK_STR(f.model_file, "onnx/model.onnx");
    CHECK(!f.quantized);
    CHECK_STR(f.tokenizer_file, "tokenizer.json");
    CHECK_EQ(f.pooling, EMBED_POOL_MEAN);
    CHECK_EQ(f.max_length, 256);
    CHECK(f.normalize);
    CHECK_EQ(f.dim, 384);
    CHECK_EQ(f.pooling_src, EMBED_SRC_FOLDER);

    /* model.onnx at the top wins over onnx/; the fp32 file over the quantized one. */
    put("model_quantized.onnx", "x");
    put("model.onnx", "x");
    CHECK_EQ(readf(&f), 0);
    CHECK_STR(f.model_file, "model.onnx");

    /* No Normalize module: the model's embeddings are meant unnormalised. */
    put("modules.json", "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers."
                        "models.Transformer\"},"
                        "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_"
                        "transformers.models.Pooling\"}]");
    put("1_Pooling/config.json", pool_cfg("cls"));
    CHECK_EQ(readf(&f), 0);
    CHECK(!f.normalize);
    CHECK_EQ(f.normalize_src, EMBED_SRC_FOLDER);
    CHECK_EQ(f.pooling, EMBED_POOL_CLS);

    /* config.ini overrides everything it names; other [model] keys are the repository's. */
    put("config.ini", "[model]\ndurability = off\npooling = max\nmax_length = 128\n"
                      "normalize = true\nmodel_file = model_quantized.onnx\n");
    CHECK_EQ(readf(&f), 0);
    CHECK_EQ(f.pooling, EMBED_POOL_MAX);
    CHECK_EQ(f.max_length, 128);
    CHECK(f.normalize);
    CHECK_STR(f.model_file, "model_quantized.onnx");
    CHECK(f.quantized);
    CHECK_EQ(f.pooling_src, EMBED_SRC_CONFIG);

    static const char *const bad_ini[] = {
        "[model]\npooling = weighted\n",       "[model]\nmax_length = 0\n",
        "[model]\nmax_length = 12x\n",         "[model]\nnormalize = maybe\n",
        "[model]\nmodel_file = ../x.onnx\n",   "[model]\nmodel_file = missing.onnx\n",
        "[model]\nmodel_file = /etc/passwd\n",
    };
    for (size_t i = 0; i < sizeof bad_ini / sizeof bad_ini[0]; i++) {
        put("config.ini", bad_ini[i]);
        CHECK_EQ(readf(&f), -EINVAL);
        CHECK(strstr(err, "config.ini:2") != NULL);
    }
    wipe();
}

static void test_defaults_and_fallbacks(void)
{
    /* A bare folder: vocab.txt, a quantized model only, no sentence-transformers files. */
    fresh();
    put("onnx/model_quantized.onnx", "x");
    put("vocab.txt", "[UNK]\n");
    put("tokenizer_config.json", "{\"model_max_length\": 1000000000000000019884624838656}");
    embed_folder_t f;
    CHECK_EQ(readf(&f), 0);
    CHECK_STR(f.model_file, "onnx/model_quantized.onnx");
    CHECK(f.quantized);
    CHECK_STR(f.tokenizer_file, "vocab.txt");
    CHECK_EQ(f.pooling, EMBED_POOL_MEAN);
    CHECK_EQ(f.pooling_src, EMBED_SRC_DEFAULT);
    CHECK_EQ(f.max_length, 0); /* the 1e30 sentinel means no limit */
    CHECK(f.normalize);
    CHECK_EQ(f.normalize_src, EMBED_SRC_DEFAULT);

    put("tokenizer_config.json", "{\"model_max_length\": 512}");
    CHECK_EQ(readf(&f), 0);
    CHECK_EQ(f.max_length, 512);

    /* Last-token pooling (e.g. decoder embedders), from the default 1_Pooling path. */
    put("1_Pooling/config.json", pool_cfg("last"));
    CHECK_EQ(readf(&f), 0);
    CHECK_EQ(f.pooling, EMBED_POOL_LAST);

    /* Pooling modes we cannot honour are refused, naming the file. */
    put("1_Pooling/config.json",
        "{\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": true}");
    CHECK_EQ(readf(&f), -EINVAL);
    CHECK(strstr(err, "1_Pooling/config.json") && strstr(err, "several"));
    put("1_Pooling/config.json", "{\"pooling_mode_weightedmean_tokens\": true}");
    CHECK_EQ(readf(&f), -EINVAL);
    CHECK(strstr(err, "weightedmean") != NULL);
    put("1_Pooling/config.json", "{\"pooling_mode_mean_tokens\": tru");
    CHECK_EQ(readf(&f), -EINVAL);
    CHECK(strstr(err, "1_Pooling/config.json:") != NULL);
    wipe();

    /* Not an embedding folder: no tokenizer, or no model. */
    fresh();
    put("model.onnx", "x");
    CHECK_EQ(readf(&f), -ENOENT);
    CHECK(strstr(err, "tokenizer") != NULL);
    wipe();
    fresh();
    put("tokenizer.json", "{}");
    CHECK_EQ(readf(&f), -ENOENT);
    CHECK(strstr(err, "model.onnx") != NULL);
    wipe();
    CHECK_EQ(embed_folder_read_path("/nonexistent-folder", &f, err, sizeof err), -ENOENT);
}

static void test_pool_names(void)
{
    CHECK_EQ(embed_pool_parse("mean"), EMBED_POOL_MEAN);
    CHECK_EQ(embed_pool_parse("CLS"), EMBED_POOL_CLS);
    CHECK_EQ(embed_pool_parse("last_token"), EMBED_POOL_LAST);
    CHECK_EQ(embed_pool_parse("sum"), -1);
    CHECK_STR(embed_pool_name(EMBED_POOL_MAX), "max");
}

int main(void)
{
    test_sentence_transformers();
    test_defaults_and_fallbacks();
    test_pool_names();
    return TH_DONE();
}

/* Subcommands of the inferd binary other than serve (which lives in main.c). Each takes the
 * arguments after its name and returns the process exit status. */
#ifndef INFERD_CLI_CLI_H
#define INFERD_CLI_CLI_H

/* inferd check MODEL.onnx: describe a model and whether it runs; 0 if it does, 1 if not. */
int cmd_check(int argc, char **argv);
/* inferd run MODEL.onnx --input FILE.json [--threads N]: outputs as JSON on stdout; 1 if the
 * model cannot be loaded, 2 for bad input. */
int cmd_run(int argc, char **argv);

/* inferd bench MODEL.onnx --input FILE.json: latency of repeated runs, as JSON. */
int cmd_bench(int argc, char **argv);

/* inferd index build|search|info: vector index files (docs/index.md); 0 ok, 1 an input or
 * index that cannot be read, 2 a usage error. */
int cmd_index(int argc, char **argv);

#endif

/* The sweep's options, parsers and inputs, shared by `brownout sweep`,
 * `brownout calibrate-erasure` and `brownout optimize` (one parser per
 * option: a command's getopt table uses the codes below for the options it
 * shares with sweep and hands them to sweep_parse_opt). */
#ifndef BO_SWEEP_OPTS_H
#define BO_SWEEP_OPTS_H

#include <brownout/brownout.h>

#define MAX_POINTS 1024
#define MAX_REFS 32

struct sweep_opts {
	const char *model, *dataset, *images, *labels;
	enum bo_split split;
	struct bo_sweep_config cfg;
	double p[MAX_POINTS];
	const char *p_text, *blocks, *block_p, *refs, *mean, *std;
	int raw; /* --no-normalize */
	int json, csv;
	int trials_given;
	const char *journal;    /* --journal FILE */
	double progress_every;  /* seconds between progress lines without a terminal */
};

/* Defaults: bo_sweep_config_defaults, threads = the number of cores. */
void sweep_opts_init(struct sweep_opts *o);
/* One option of sweep's table by its getopt code ('d' --deviation, 'T'
 * --target, 'p', 'B' --blocks, 'P' --block-p, 'n' --trials, 'c', 'm'
 * --min-trials, 'M' --max-trials, 'a' --activation-sites, 's' --seed, 'b'
 * --bits, 'C' --calib, 'l' --limit, 'k' --batch, 't' --threads, 'e'
 * --energy-a, 'r' --references, 'N' --no-normalize, 1 --mean, 2 --std,
 * 'j' --json, 'v' --csv, 3 --split, 4 --images, 5 --labels, 6 --journal,
 * 7 --progress-every, 8 --images-per-trial, 9 --accuracy-floor, 10
 * --weight-faults): 0, a
 * usage error's exit code (2, printed), or SWEEP_OPT_UNKNOWN. */
#define SWEEP_OPT_UNKNOWN (-3)
int sweep_parse_opt(struct sweep_opts *o, int ch, const char *arg);

struct loaded {
	struct bo_model *m;
	struct bo_dataset *ds;
	struct bo_block_map *map;
	struct bo_block_rule *rules;
	int n_rules;
};
/* Model, dataset, block map and rules, normalisation (with its warnings);
 * sets o->cfg.blocks/rules. 0, or -1 with err. */
int load_inputs(struct sweep_opts *o, struct loaded *l, struct bo_error *err);
void loaded_release(struct loaded *l);
/* The --references models: 0; -1 with err; -2 (printed) too many. */
int eval_refs(struct sweep_opts *o, const struct bo_dataset *ds, struct bo_ref_point *refs,
	      char names[][256], int *n, struct bo_error *err);

#endif

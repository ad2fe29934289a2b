/* Each command's own --help (`brownout sweep --help`): its synopsis and
 * every option with its default, the sweep defaults read from
 * bo_sweep_config_defaults() so that they cannot drift from the library.
 * Kept apart from the getopt tables of brownout.c and sweep_cmd.c: an
 * option added there gets its line here (tests/cli/test_cli.sh checks that
 * every long option of a table appears in its command's help).
 *
 * Also the answer to an unknown option: getopt has said "unrecognized
 * option"; bad_option() adds "did you mean --X?" (common/suggest.c) and
 * points at the command's own help. */
#include <stdio.h>
#include <string.h>

#include <brownout/optimize.h>

#include "cli.h"
#include "suggest.h"


static void help_info(FILE *f)
{
	fprintf(f,
		"usage: brownout info MODEL.onnx [options]\n"
		"  inputs, outputs, op counts, parameters and activations (spec section 1),\n"
		"  and a per-block table (spec section 5)\n"
		"options:\n"
		"  --input-shape CxHxW   sample shape where the model leaves it open, e.g. 1x28x28\n"
		"                        (default: the model's input shape)\n"
		"  --blocks MAP          blocks as 'PREFIX=BLOCK,~REGEX=BLOCK' or @FILE\n"
		"                        (default: the first component of each node's name)\n"
		"  --sites RULE          where activations are counted: activations,\n"
		"                        activations-gated, relu or conv-inputs (default activations)\n"
		"  --json                JSON instead of text\n"
		"  --help                this help\n");
}

static void help_eval(FILE *f)
{
	fprintf(f,
		"usage: brownout eval MODEL.onnx DATASET [options]\n"
		"       brownout eval MODEL.onnx --images FILE --labels FILE [options]\n"
		"  top-1 accuracy on a dataset directory (IDX, CIFAR-10 binary or NPY)\n"
		"options:\n"
		"  --split test|train    which split of DATASET (default test)\n"
		"  --images FILE --labels FILE   .npy or IDX files instead of a directory\n"
		"  --limit N             the first N images (default: all)\n"
		"  --batch B             images per batch, 1 to 65536 (default 64)\n"
		"  --threads T           inference threads, 1 to 256 (default: number of cores)\n"
		"  --mean M[,M..]        per-channel mean after scaling to [0,1]\n"
		"  --std S[,S..]         per-channel std (default for both: the model's metadata\n"
		"                        brownout.mean/brownout.std; a model with neither is refused)\n"
		"  --no-normalize        the model takes raw [0,1] pixels: no mean/std\n"
		"  --json                JSON instead of text\n"
		"  --profile             time per operator (on stderr, or in the JSON)\n"
		"  --help                this help\n");
}

static void help_run(FILE *f)
{
	fprintf(f,
		"usage: brownout run MODEL.onnx --input FILE [--input FILE ...] --output-dir DIR\n"
		"  run the graph once on .pb (TensorProto) or .npy inputs; writes DIR/output_N.pb\n"
		"options:\n"
		"  --input FILE          one per model input, in order (at most 16)\n"
		"  --output-dir DIR      where output_N.pb go (created if missing)\n"
		"  --help                this help\n");
}

static void help_sweep(FILE *f, int calibration)
{
	struct bo_sweep_config c;
	bo_sweep_config_defaults(&c);
	if (calibration)
		fprintf(f,
			"usage: brownout calibrate-erasure MODEL.onnx DATASET --p LIST [options]\n"
			"  the ratio p_e/p at which weights-only erasure matches weights-only BM\n");
	else
		fprintf(f,
			"usage: brownout sweep MODEL.onnx DATASET --p LIST|LO:HI:N [options]\n"
			"       brownout sweep MODEL.onnx --images FILE --labels FILE --p ... [options]\n"
			"  accuracy under faults (docs/fault-models.md): mean, std, 95%% CI per point,\n"
			"  energy per inference, and iso-accuracy energy reduction against references\n");
	fprintf(f,
		"options:\n"
		"  --p LIST|LO:HI:N      fault probabilities: 1e-3,1e-2 (values in [0, 1]) or N\n"
		"                        log-spaced values from LO to HI (0 < LO <= HI <= 1); required\n"
		"  --deviation bm|erasure     fault model (default %s)\n"
		"  --target both|weights|activations   what is faulted (default %s)\n"
		"  --activation-sites RULE   where activations are faulted: activations,\n"
		"                        activations-gated, relu or conv-inputs (default %s)\n"
		"  --trials N            trials per point (default %d)\n"
		"  --ci-target W         instead of --trials: until the 95%% CI half-width is <= W\n"
		"  --min-trials N        with --ci-target, at least N trials (default %d)\n"
		"  --max-trials N        with --ci-target, at most N trials (default %d)\n"
		"  --images-per-trial N|all|auto   images each trial (chip) sees: N drawn\n"
		"                        without replacement per trial, all (default: the paper's\n"
		"                        design), or auto (a pilot, then the cheapest n for the\n"
		"                        same CI; the chosen n is reported per point)\n"
		"  --accuracy-floor A    the yield's floor, in (0, 1] (default: clean accuracy - 0.01)\n"
		"  --weight-faults independent|nested   independent: each point draws its own\n"
		"                        weight faults (default); nested: trial t is one chip at\n"
		"                        every point (a cell faulty at p is faulty at larger p),\n"
		"                        reported with each chip's minimum energy and the yield curve\n"
		"  --blocks MAP          blocks as 'PREFIX=BLOCK,~REGEX=BLOCK' or @FILE\n"
		"                        (default: the first component of each node's name)\n"
		"  --block-p BLOCK=P|Kp,...,*=P   p per block (default: the point's p everywhere)\n"
		"  --seed S              random seed (default %llu)\n"
		"  --bits B              SRAM word bits, 2 to 16 (default %d)\n"
		"  --calib N             calibration images for the activation ranges (default %lld)\n"
		"  --limit N             the first N images (default: all)\n"
		"  --batch B             images per batch, 1 to 65536 (default %d)\n"
		"  --threads T           inference threads, 1 to 256 (default: number of cores)\n"
		"  --energy-a A          energy model constant a (default %g)\n"
		"  --references M1.onnx,M2.onnx   reliable models for the iso-accuracy energy\n"
		"                        reduction (default: none)\n"
		"  --split test|train    which split of DATASET (default test)\n"
		"  --images FILE --labels FILE   .npy or IDX files instead of a directory\n"
		"  --mean M[,M..]        per-channel mean after scaling to [0,1]\n"
		"  --std S[,S..]         per-channel std (default for both: the model's metadata\n"
		"                        brownout.mean/brownout.std; a model with neither is refused)\n"
		"  --no-normalize        the model takes raw [0,1] pixels: no mean/std\n"
		"  --json | --csv        JSON or CSV instead of the table\n"
		"  --journal FILE        keep finished trials in FILE and resume from it (sweep only)\n"
		"  --progress-every S    seconds between progress lines when stderr is not a\n"
		"                        terminal, 0 to 86400 (default 10)\n"
		"  --help                this help\n",
		bo_deviation_name(c.deviation), bo_target_name(c.target),
		bo_act_sites_name(c.sites), c.trials, c.min_trials, c.max_trials,
		(unsigned long long)c.seed, c.bits, (long long)c.calib, c.batch, c.energy_a);
}

static void help_optimize(FILE *f)
{
	struct bo_sweep_config c;
	struct bo_opt_config o;
	bo_sweep_config_defaults(&c);
	bo_opt_config_defaults(&o);
	fprintf(f,
		"usage: brownout optimize MODEL.onnx DATASET --accuracy-floor A | --max-loss L [options]\n"
		"       brownout optimize MODEL.onnx --images FILE --labels FILE --max-loss L [options]\n"
		"  per-block fault probabilities p_i minimising E = sum eta(p_i) V_i at a mean\n"
		"  accuracy >= A* (spec section 8, docs/optimizer.md), re-evaluated with a fresh\n"
		"  seed, against uniform p and the paper's policy p_B4 = 5 p_B3 = 5 p_B2 = 10 p_B1\n"
		"options:\n"
		"  --accuracy-floor A    A*, in (0, clean accuracy]\n"
		"  --max-loss L          or A* = clean accuracy - L, L in (0, 1) (one of the two)\n"
		"  --block-p-grid LIST|LO:HI:N   the p each block may take, ascending, > 0\n"
		"                        (default 1e-4:1e-1:10, a log grid; p = 0 is always allowed)\n"
		"  --budget-trials N     full-model trials the search may run (default %lld); at\n"
		"                        least blocks x grid x curve trials + min trials\n"
		"  --curve-trials N      trials per block and grid p for the curves (default %d)\n"
		"  --min-trials N        trials per full-model candidate, at first (default %d)\n"
		"  --max-trials N        at most, where a decision is close (default %d)\n"
		"  --verify-trials N     trials of the verification, 2 to 1000 (default 10)\n"
		"  --baseline-trials N   trials per baseline grid p (default 5)\n"
		"  --baseline-p LIST|LO:HI:N   the baselines' p grid (default: --block-p-grid)\n"
		"  --policy-blocks B1,B2,B3,B4   the paper policy's blocks\n"
		"                        (default layer1,layer2,layer3,layer4; others at p)\n"
		"  --references M1.onnx,M2.onnx   reliable models: iso-accuracy reduction\n"
		"  --deviation bm|erasure     fault model (default %s)\n"
		"  --target both|weights|activations   what is faulted (default %s)\n"
		"  --activation-sites RULE   activations, activations-gated, relu or conv-inputs\n"
		"                        (default %s)\n"
		"  --blocks MAP          blocks as 'PREFIX=BLOCK,~REGEX=BLOCK' or @FILE\n"
		"                        (default: the first component of each node's name)\n"
		"  --seed S              the search's seed; the verification's is derived (default %llu)\n"
		"  --bits B              SRAM word bits, 2 to 16 (default %d)\n"
		"  --calib N             calibration images (default %lld)\n"
		"  --limit N             the first N images (default: all)\n"
		"  --batch B             images per batch, 1 to 65536 (default %d)\n"
		"  --threads T           inference threads, 1 to 256 (default: number of cores);\n"
		"                        the answer does not depend on it\n"
		"  --energy-a A          energy model constant a (default %g)\n"
		"  --split test|train    which split of DATASET (default test)\n"
		"  --images FILE --labels FILE   .npy or IDX files instead of a directory\n"
		"  --mean M[,M..] --std S[,S..]   normalisation (default: the model's metadata)\n"
		"  --no-normalize        the model takes raw [0,1] pixels\n"
		"  --progress-every S    seconds between progress lines within a phase (default 10)\n"
		"  --json                JSON instead of the table\n"
		"  --help                this help\n",
		(long long)o.budget_trials, o.curve_trials, o.min_trials, o.max_trials,
		c.deviation == BO_DEV_BM ? "bm" : "erasure",
		c.target == BO_TARGET_BOTH ? "both" : c.target == BO_TARGET_WEIGHTS ? "weights" :
										 "activations",
		bo_act_sites_name(c.sites), (unsigned long long)c.seed, c.bits, (long long)c.calib,
		c.batch, c.energy_a);
}

int cmd_help(FILE *f, const char *cmd)
{
	if (!cmd)
		usage(f);
	else if (!strcmp(cmd, "info"))
		help_info(f);
	else if (!strcmp(cmd, "eval"))
		help_eval(f);
	else if (!strcmp(cmd, "run"))
		help_run(f);
	else if (!strcmp(cmd, "sweep"))
		help_sweep(f, 0);
	else if (!strcmp(cmd, "calibrate-erasure"))
		help_sweep(f, 1);
	else if (!strcmp(cmd, "optimize"))
		help_optimize(f);
	else
		usage(f);
	return 0;
}

int bad_option(char **argv, const struct option *opts)
{
	/* getopt_long has printed "unrecognized option '--limt'" (or that an
	 * argument is missing); the element it refused is argv[optind - 1] */
	const char *arg = optind > 0 ? argv[optind - 1] : NULL;
	const char *best = bo_suggest_option(arg, opts);
	if (best)
		fprintf(stderr, "%s: did you mean --%s?\n", prog, best);
	fprintf(stderr, "Try '%s%s%s --help'.\n", prog, cmd_name ? " " : "",
		cmd_name ? cmd_name : "");
	return EXIT_USAGE;
}

void usage(FILE *f)
{
	fprintf(f,
		"usage: brownout COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  info MODEL.onnx [--input-shape CxHxW] [--blocks MAP] [--sites activations|activations-gated|relu|conv-inputs] [--json]\n"
		"      inputs, outputs, op counts, parameters and activations (spec section 1),\n"
		"      per-block table (blocks from node names or MAP: 'PREFIX=BLOCK,~REGEX=BLOCK' or @FILE)\n"
		"  eval MODEL.onnx DATASET [--split test|train] [--images FILE --labels FILE]\n"
		"       [--limit N] [--batch B] [--threads T] [--mean M[,M..] --std S[,S..] | --no-normalize]\n"
		"       [--json] [--profile]\n"
		"      top-1 accuracy on a dataset directory (IDX, CIFAR-10 binary or NPY)\n"
		"  run MODEL.onnx --input FILE [--input FILE ...] --output-dir DIR\n"
		"      run the graph once on .pb (TensorProto) or .npy inputs; writes output_N.pb\n"
		"  sweep MODEL.onnx DATASET --p LIST|LO:HI:N [--deviation bm|erasure]\n"
		"        [--target both|weights|activations] [--trials N | --ci-target W [--min-trials N]\n"
		"        [--max-trials N]] [--images-per-trial N|all|auto] [--accuracy-floor A]\n"
		"        [--blocks MAP] [--block-p BLOCK=P|Kp,...,*=P]\n"
		"        [--activation-sites activations|activations-gated|relu|conv-inputs] [--seed S] [--bits B] [--calib N]\n"
		"        [--limit N] [--batch B] [--threads T] [--energy-a A] [--references M1,M2,..]\n"
		"        [--mean ..] [--std ..] [--json | --csv] [--journal FILE] [--progress-every S]\n"
		"      accuracy under faults (docs/fault-models.md): mean, std, 95%% CI, chip\n"
		"      quantiles and yield per point, energy per inference, and iso-accuracy energy\n"
		"      reduction against references\n"
		"  calibrate-erasure MODEL.onnx DATASET --p LIST [sweep options]\n"
		"  optimize MODEL.onnx DATASET --accuracy-floor A | --max-loss L [--block-p-grid G]\n"
		"        [--budget-trials N] [--references M1,M2,..] [sweep options] [--json]\n"
		"      per-block fault probabilities of least energy at an accuracy floor, verified\n"
		"      with a fresh seed against uniform p and the paper's policy (docs/optimizer.md)\n"
		"  worker --server URL --token TOKEN [--threads N] [--max-idle S] [--cache DIR]\n"
		"      run brownoutd's tasks here (remote worker; see docs/cluster.md)\n"
		"      the ratio p_e/p at which weights-only erasure matches weights-only BM\n"
		"  version\n"
		"\n"
		"'brownout COMMAND --help' lists the command's options with their defaults.\n"
		"\n"
		"Normalisation: pixels go to [0,1] (u8 / 255; float pixels are taken as they are), then\n"
		"(x - mean[c]) / std[c]; --mean/--std win over the model's metadata_props\n"
		"brownout.mean / brownout.std. A model with neither is refused unless --no-normalize\n"
		"says it takes raw [0,1] pixels.\n");
}

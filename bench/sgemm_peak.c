/* OpenBLAS sgemm peak on this machine, one thread per caller as the engine
 * runs it: prints GFLOP/s for square and conv-like shapes as JSON.
 *   bench/sgemm_peak [threads] */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct job { int m, n, k; double gflops; };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *run(void *arg)
{
	struct job *j = arg;
	float *a = malloc(sizeof(float) * (size_t)j->m * (size_t)j->k);
	float *b = malloc(sizeof(float) * (size_t)j->k * (size_t)j->n);
	float *c = malloc(sizeof(float) * (size_t)j->m * (size_t)j->n);
	if (!a || !b || !c)
		exit(1);
	for (long i = 0; i < (long)j->m * j->k; i++)
		a[i] = (float)(i % 7) * 0.1f;
	for (long i = 0; i < (long)j->k * j->n; i++)
		b[i] = (float)(i % 5) * 0.1f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->m, j->n, j->k, 1, a, j->k, b,
		    j->n, 0, c, j->n);
	int reps = 0;
	double t0 = now(), t;
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->m, j->n, j->k, 1, a, j->k,
			    b, j->n, 0, c, j->n);
		reps++;
	} while ((t = now() - t0) < 1.0);
	j->gflops = 2.0 * j->m * j->n * j->k * reps / t / 1e9;
	free(a);
	free(b);
	free(c);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	if (threads < 1 || threads > 64)
		return 2;
	openblas_set_num_threads(1);
	/* square, and the shape of a 3x3 conv of 256->256 channels on 8x8 x 64 images */
	static const int shapes[][3] = { { 1024, 1024, 1024 }, { 256, 4096, 2304 } };
	printf("[");
	for (int s = 0; s < 2; s++) {
		struct job jobs[64];
		pthread_t tid[64];
		for (int t = 0; t < threads; t++) {
			jobs[t] = (struct job){ shapes[s][0], shapes[s][1], shapes[s][2], 0 };
			pthread_create(&tid[t], NULL, run, &jobs[t]);
		}
		double total = 0;
		for (int t = 0; t < threads; t++) {
			pthread_join(tid[t], NULL);
			total += jobs[t].gflops;
		}
		printf("%s{\"m\": %d, \"n\": %d, \"k\": %d, \"threads\": %d, \"gflops\": %.1f}",
		       s ? ", " : "", shapes[s][0], shapes[s][1], shapes[s][2], threads, total);
	}
	printf("]\n");
	return 0;
}

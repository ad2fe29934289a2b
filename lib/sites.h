/* Stored activation sites (spec section 1). Private to lib/. */
#ifndef BO_SITES_H
#define BO_SITES_H

#include "graph.h"

/* enum bo_act_sites values 0 .. BO_N_SITE_RULES - 1 */
#define BO_N_SITE_RULES 4

struct bo_sites {
	int n;
	int *value;        /* value index of each site, in production order */
	int *node;         /* first consuming node (topological), -1 if none */
	int *is_unsigned;
};

bo_status Bo_sites_find(const struct bo_model *m, enum bo_act_sites kind, struct bo_sites *out,
			struct bo_error *err);
void Bo_sites_release(struct bo_sites *s);

/* Spec section 1: is value v stored unsigned? */
int Bo_value_is_unsigned(const struct bo_model *m, int v);

#endif

/* brownoutd remote workers (remote.c): the workers seen and the blobs
 * offered to them; the /api/v1/worker/... handlers are in api.h */
#ifndef BO_REMOTE_H
#define BO_REMOTE_H

#include <brownout/status.h>

struct bo_remote;

bo_status bo_remote_new(struct bo_remote **out, struct bo_error *err);
void bo_remote_free(struct bo_remote *rm);

#endif

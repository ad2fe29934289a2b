/* brownoutd remote workers (remote.c): the workers seen and the blobs
 * offered to them; the /api/v1/worker/... handlers are in api.h */
#ifndef BO_REMOTE_H
#define BO_REMOTE_H

#include <brownout/status.h>

struct bd_remote;

bo_status bd_remote_new(struct bd_remote **out, struct bo_error *err);
void bd_remote_free(struct bd_remote *rm);

#endif

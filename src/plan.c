/* plan.c - what to do with each message; pure. */
#include "plan.h"

void plan_policy_init(struct plan_policy *p, const struct account *a,
		      bool keep, time_t now)
{
	p->del = keep ? DELETE_NO : a->del;
	p->keep_days = keep ? 0 : a->keep_days;
	p->max_size = a->max_size;
	p->now = now;
}

enum plan_action plan_new(const struct plan_policy *p, uint64_t size)
{
	if (p->max_size != 0 && size > p->max_size)
		return PLAN_SKIP_BIG;
	return PLAN_FETCH;
}

enum plan_action plan_known(const struct plan_policy *p, time_t first_seen)
{
	if (p->del != DELETE_NO)
		return PLAN_DELETE;
	if (p->keep_days != 0 &&
	    p->now - first_seen > (time_t)p->keep_days * 86400)
		return PLAN_DELETE;
	return PLAN_KEEP;
}

package sqlstore

import (
	"cmp"
	"slices"

	"github.com/keyward/keyward"
)

// BackchannelColumns are the columns of backchannel_logouts, in the order
// the backends scan them.
const BackchannelColumns = `id, client_id, user_id, session_id, created_at, attempts, next_attempt_at`

// SortBackchannel puts claimed logouts in the order
// [keyward.BackchannelStore.ClaimBackchannelLogouts] returns them, the
// earliest due first, which an UPDATE ... RETURNING does not promise.
func SortBackchannel(ls []keyward.BackchannelLogout) {
	slices.SortFunc(ls, func(a, b keyward.BackchannelLogout) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
}

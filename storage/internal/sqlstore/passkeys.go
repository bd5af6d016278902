package sqlstore

// The columns of the passkey tables, in the order the backends scan and
// insert them.
const (
	PasskeyColumns  = `id, user_id, name, public_key, attestation_format, aaguid, sign_count, transports, user_verified, backup_eligible, backup_state, created_at, last_used_at`
	CeremonyColumns = `hash, kind, user_id, session_id, data, expires_at`
)

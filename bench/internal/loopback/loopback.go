// Package loopback spreads the benchmark tools' connections over several
// loopback source addresses, so that a server which counts or limits per
// client address (the issuer's throttles, its long-poll holds per client)
// sees many clients, as it would in production, rather than one.
package loopback

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// Sources is how many loopback addresses SpreadDialer dials from.
const Sources = 32

// SpreadDialer returns a DialContext that dials from 127.0.0.2 to
// 127.0.0.(1+Sources) in turn when the target is on an IPv4 loopback
// address (Linux routes all of 127.0.0.0/8 to the loopback interface), and
// as usual otherwise.
func SpreadDialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	var n atomic.Uint64
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().Is4() && ap.Addr().IsLoopback() {
			src := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + n.Add(1)%Sources)})
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		}
		return d.DialContext(ctx, network, addr)
	}
}

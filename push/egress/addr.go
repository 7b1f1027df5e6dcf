package egress

import "net/netip"

// forbiddenV4 are the IPv4 ranges a push endpoint may not be in
// (spec/push.md §4.8): every range of the IANA special-purpose registry
// that is not globally reachable, plus multicast and the limited broadcast.
var forbiddenV4 = prefixes(
	"0.0.0.0/8",       // "this network", incl. the unspecified address
	"10.0.0.0/8",      // private (RFC 1918)
	"100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local
	"172.16.0.0/12",   // private (RFC 1918)
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private (RFC 1918)
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, incl. the limited broadcast
)

// forbiddenV6 are the IPv6 ranges refused outright. IPv4-mapped addresses
// are unmapped first and judged as IPv4; the NAT64 and 6to4 forms, which
// embed an IPv4 address a gateway would reach, are judged by that address.
var forbiddenV6 = prefixes(
	"::/96",          // unspecified, loopback and deprecated IPv4-compatible
	"100::/64",       // discard-only
	"2001::/23",      // IETF protocol assignments (Teredo, ORCHID, ...)
	"2001:db8::/32",  // documentation
	"64:ff9b:1::/48", // local-use NAT64 (RFC 8215)
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"fec0::/10",      // deprecated site-local
	"ff00::/8",       // multicast
)

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Forbidden reports whether ip is an address the client refuses to reach
// (spec/push.md §4.8). An invalid address is forbidden.
func Forbidden(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return inAny(ip, forbiddenV4)
	}
	if inAny(ip, forbiddenV6) {
		return true
	}
	b := ip.As16()
	if nat64.Contains(ip) {
		// The IPv4 address is the last 32 bits (RFC 6052 §2.2, /96).
		return Forbidden(netip.AddrFrom4([4]byte(b[12:16])))
	}
	if sixToFour.Contains(ip) {
		// 2002:AABB:CCDD::/48 carries A.B.C.D (RFC 3056 §2).
		return Forbidden(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return false
}

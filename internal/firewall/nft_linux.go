package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// elemChunk is how many set elements go into one netlink message: a
// message's element list is one attribute, whose length is 16 bits.
const elemChunk = 512

// conn opens an nftables connection in the selected namespace. The
// returned func releases the namespace fd.
func conn(opts []Option, batchBytes int) (*nftables.Conn, func(), error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	done := func() {}
	fd := o.netnsFd
	if o.netnsPath != "" {
		f, err := os.Open(o.netnsPath)
		if err != nil {
			return nil, nil, fmt.Errorf("firewall: network namespace: %w", err)
		}
		fd, done = int(f.Fd()), func() { f.Close() }
	}
	copts := []nftables.ConnOption{nftables.WithSockOptions(bufferOption(batchBytes))}
	if fd > 0 {
		copts = append(copts, nftables.WithNetNSFd(fd))
	}
	c, err := nftables.New(copts...)
	if err != nil {
		done()
		return nil, nil, classify(err)
	}
	return c, done, nil
}

// bufferOption sizes the socket for one batch: the kernel refuses a
// batch larger than the send buffer (208 KiB by default, about 6000 IPv6
// addresses), and the acknowledgements of a large batch must fit the
// receive buffer. The FORCE variants exceed
// net.core.wmem_max, as nft does; a caller that may change the firewall
// may do that too.
func bufferOption(batchBytes int) nftables.SockOption {
	return func(c *netlink.Conn) error {
		if batchBytes == 0 {
			return nil // reads: the dump is received in parts
		}
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = raw.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, batchBytes+(64<<10)); serr != nil {
				return
			}
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, batchBytes/4+(1<<20))
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("firewall: netlink buffer of %d bytes: %w", batchBytes, serr)
		}
		return nil
	}
}

// classify turns kernel errors into the package's sentinel errors,
// keeping the original for the details.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w: %v", ErrPermission, err)
	case errors.Is(err, syscall.EPROTONOSUPPORT), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EAFNOSUPPORT):
		return fmt.Errorf("%w: %v", ErrNoNFTables, err)
	}
	return fmt.Errorf("firewall: %w", err)
}

// Apply replaces the table r names with r in one netlink batch: the table
// is created if missing, deleted with everything in it, and built again,
// and the kernel commits all of it or none. No packet ever sees a half
// table or a moment without one.
func Apply(ctx context.Context, r Ruleset, opts ...Option) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return err
	}
	b := newBatch(r.Normalized())
	c, done, err := conn(opts, b.size)
	if err != nil {
		return err
	}
	defer done()
	if err := b.queue(c); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return classify(fmt.Errorf("apply table inet %s: %w", r.Name(), err))
	}
	return nil
}

// Remove deletes the table (a no-op when it does not exist), in one batch
// that adds and deletes it so that a missing table is not an error.
func Remove(ctx context.Context, table string, opts ...Option) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidTableName(table); err != nil {
		return err
	}
	c, done, err := conn(opts, 0)
	if err != nil {
		return err
	}
	defer done()
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return classify(fmt.Errorf("remove table inet %s: %w", table, err))
	}
	return nil
}

// Read returns the installed table as a Ruleset (in Normalized form) and
// whether it exists. A table holding sets, chains or rules minerguard
// would not have written is refused with ErrForeign, since it could not be
// restored exactly from a Ruleset.
func Read(ctx context.Context, table string, opts ...Option) (Ruleset, bool, error) {
	if err := ValidTableName(table); err != nil {
		return Ruleset{}, false, err
	}
	c, done, err := conn(opts, 0)
	if err != nil {
		return Ruleset{}, false, err
	}
	defer done()
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return Ruleset{}, false, classify(fmt.Errorf("list tables: %w", err))
	}
	var t *nftables.Table
	for _, x := range tables {
		if x.Name == table {
			t = x
		}
	}
	if t == nil {
		return Ruleset{}, false, nil
	}
	if err := ctx.Err(); err != nil {
		return Ruleset{}, false, err
	}
	r := Ruleset{Table: table}
	foreign := func(format string, a ...any) (Ruleset, bool, error) {
		return Ruleset{}, true, fmt.Errorf("%w: table inet %s: %s", ErrForeign, table, fmt.Sprintf(format, a...))
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return Ruleset{}, true, classify(fmt.Errorf("table inet %s: sets: %w", table, err))
	}
	var allowSets int
	for _, s := range sets {
		elems, err := c.GetSetElements(s)
		if err != nil {
			return Ruleset{}, true, classify(fmt.Errorf("table inet %s: set %s: %w", table, s.Name, err))
		}
		var derr error
		switch s.Name {
		case setBlock4, setBlock6:
			size := 4
			if s.Name == setBlock6 {
				size = 16
			}
			var ps []netip.Prefix
			ps, derr = decodeInterval(elems, size)
			r.BlockAddrs = append(r.BlockAddrs, ps...)
		case setPorts:
			r.BlockPorts, derr = decodePorts(elems)
		case setInPorts:
			r.InboundBlockPorts, derr = decodePorts(elems)
		case setAllow4, setAllow6:
			allowSets++
			alen := 4
			if s.Name == setAllow6 {
				alen = 16
			}
			for _, e := range elems {
				eps, err := keysToEndpoints(e.Key, e.KeyEnd, alen)
				if err != nil {
					derr = err
					break
				}
				r.Allow = append(r.Allow, eps...)
			}
		default:
			return foreign("set %s", s.Name)
		}
		if derr != nil {
			return foreign("set %s: %v", s.Name, derr)
		}
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return Ruleset{}, true, classify(fmt.Errorf("table inet %s: chains: %w", table, err))
	}
	got := map[string]*nftables.Chain{}
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == table {
			got[ch.Name] = ch
		}
	}
	r.Isolate = got[chainIsolateIn] != nil
	if allowSets > 0 && !r.Isolate {
		return foreign("allow sets without isolation chains")
	}
	r = r.Normalized()
	// The chains must be exactly those this ruleset puts there, each with
	// the number of rules it puts there.
	want := chainsFor(r)
	for _, w := range want {
		ch := got[w.name]
		if ch == nil {
			return foreign("chain %s is missing", w.name)
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return Ruleset{}, true, classify(fmt.Errorf("table inet %s: chain %s: %w", table, w.name, err))
		}
		if len(rules) != len(w.rules) {
			return foreign("chain %s has %d rules, minerguard puts %d there", w.name, len(rules), len(w.rules))
		}
		delete(got, w.name)
	}
	for name := range got {
		return foreign("chain %s", name)
	}
	return r, true, nil
}

func decodeInterval(elems []nftables.SetElement, size int) ([]netip.Prefix, error) {
	keys := make([]intervalKey, len(elems))
	for i, e := range elems {
		keys[i] = intervalKey{key: e.Key, end: e.IntervalEnd}
	}
	rs, err := keysToRanges(keys, size)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, r := range rs {
		out = append(out, rangePrefixes(r)...)
	}
	return out, nil
}

func decodePorts(elems []nftables.SetElement) ([]uint16, error) {
	var out []uint16
	for _, e := range elems {
		if len(e.Key) != 2 {
			return nil, fmt.Errorf("element of %d bytes, want 2", len(e.Key))
		}
		out = append(out, uint16(e.Key[0])<<8|uint16(e.Key[1]))
	}
	return out, nil
}

// batch is a ruleset turned into nftables objects, ready to queue.
type batch struct {
	table  *nftables.Table
	sets   []setWithElems
	chains []chainSpec
	size   int // approximate bytes on the wire, for the socket buffers
}

type setWithElems struct {
	set   *nftables.Set
	elems []nftables.SetElement
}

func newBatch(r Ruleset) *batch {
	b := &batch{table: &nftables.Table{Name: r.Name(), Family: nftables.TableFamilyINet}}
	id := uint32(0)
	addSet := func(s *nftables.Set, elems []nftables.SetElement) {
		id++
		s.ID, s.Table = id, b.table
		b.sets = append(b.sets, setWithElems{s, elems})
		// 64 bytes bound the largest element (IPv6 address . port,
		// with its end); each message adds headers and names.
		b.size += 128 + 64*len(elems) + 128*(len(elems)/elemChunk+1)
	}
	if len(r.BlockAddrs) > 0 {
		v4, v6 := splitFamilies(r.BlockAddrs)
		addSet(&nftables.Set{Name: setBlock4, KeyType: nftables.TypeIPAddr, Interval: true, KeyByteOrder: binaryutil.BigEndian}, intervalElems(v4))
		addSet(&nftables.Set{Name: setBlock6, KeyType: nftables.TypeIP6Addr, Interval: true, KeyByteOrder: binaryutil.BigEndian}, intervalElems(v6))
	}
	if len(r.BlockPorts) > 0 {
		addSet(&nftables.Set{Name: setPorts, KeyType: nftables.TypeInetService, KeyByteOrder: binaryutil.BigEndian}, portElems(r.BlockPorts))
	}
	if len(r.InboundBlockPorts) > 0 {
		addSet(&nftables.Set{Name: setInPorts, KeyType: nftables.TypeInetService, KeyByteOrder: binaryutil.BigEndian}, portElems(r.InboundBlockPorts))
	}
	if r.Isolate {
		var a4, a6 []nftables.SetElement
		for _, e := range r.Allow {
			k, ke := endpointKeys(e)
			if e.Prefix.Addr().Is4() {
				a4 = append(a4, nftables.SetElement{Key: k, KeyEnd: ke})
			} else {
				a6 = append(a6, nftables.SetElement{Key: k, KeyEnd: ke})
			}
		}
		addSet(&nftables.Set{Name: setAllow4, KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService),
			Interval: true, Concatenation: true, KeyByteOrder: binaryutil.BigEndian}, a4)
		addSet(&nftables.Set{Name: setAllow6, KeyType: nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetService),
			Interval: true, Concatenation: true, KeyByteOrder: binaryutil.BigEndian}, a6)
	}
	b.chains = chainsFor(r)
	b.size += 64 << 10 // table, chains and rules: a few hundred bytes each
	return b
}

func intervalElems(ps []netip.Prefix) []nftables.SetElement {
	keys := intervalKeys(mergeRanges(ps))
	out := make([]nftables.SetElement, len(keys))
	for i, k := range keys {
		out[i] = nftables.SetElement{Key: k.key, IntervalEnd: k.end}
	}
	return out
}

func portElems(ps []uint16) []nftables.SetElement {
	out := make([]nftables.SetElement, len(ps))
	for i, p := range ps {
		out[i] = nftables.SetElement{Key: portKey(p)}
	}
	return out
}

// queue adds the whole replacement to c's pending batch.
func (b *batch) queue(c *nftables.Conn) error {
	// Adding first makes the delete valid whether or not the table exists.
	c.AddTable(b.table)
	c.DelTable(b.table)
	c.AddTable(b.table)
	byName := map[string]*nftables.Set{}
	for _, s := range b.sets {
		if err := c.AddSet(s.set, nil); err != nil {
			return fmt.Errorf("firewall: set %s: %w", s.set.Name, err)
		}
		for chunk := range slices.Chunk(s.elems, elemChunk) {
			if err := c.SetAddElements(s.set, chunk); err != nil {
				return fmt.Errorf("firewall: set %s: %w", s.set.Name, err)
			}
		}
		byName[s.set.Name] = s.set
	}
	for _, cs := range b.chains {
		ch := c.AddChain(&nftables.Chain{
			Name: cs.name, Table: b.table, Type: nftables.ChainTypeFilter,
			Hooknum: hookOf(cs.hook), Priority: nftables.ChainPriorityRef(Priority),
		})
		for i, k := range cs.rules {
			exprs, err := ruleExprs(k, byName)
			if err != nil {
				return err
			}
			c.AddRule(&nftables.Rule{Table: b.table, Chain: ch, Exprs: exprs,
				UserData: userdata.AppendString(nil, userdata.TypeComment, ruleComment(cs.lines[i]))})
		}
	}
	return nil
}

// ruleComment names the rule for whoever lists the ruleset; without
// quotes, which would break `nft list ruleset > f; nft -f f`.
func ruleComment(line string) string {
	return "minerguard: " + strings.ReplaceAll(line, `"`, "")
}

func hookOf(h string) *nftables.ChainHook {
	switch h {
	case "input":
		return nftables.ChainHookInput
	case "output":
		return nftables.ChainHookOutput
	default:
		return nftables.ChainHookForward
	}
}

// Registers: reg 1 (16 bytes) for single values; a concatenation loads the
// address into reg 1 and the port into the 32-bit register right after it
// (reg32 9 after an IPv4 address, reg 2 after an IPv6 one), as nft does.
const (
	reg1      = unix.NFT_REG_1
	regPort4  = unix.NFT_REG32_01
	regPort6  = unix.NFT_REG_2
	nfproto4  = unix.NFPROTO_IPV4
	nfproto6  = unix.NFPROTO_IPV6
	offSaddr4 = 12
	offDaddr4 = 16
	offSaddr6 = 8
	offDaddr6 = 24
	offSport  = 0
	offDport  = 2
)

func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{p}},
	}
}

func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{p}},
	}
}

func load(base expr.PayloadBase, off, n, reg uint32) *expr.Payload {
	return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg, Base: base, Offset: off, Len: n}
}

func lookup(s *nftables.Set) *expr.Lookup {
	return &expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID}
}

func drop() []expr.Any { return []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}} }

func accept() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}} }

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func ifname(key expr.MetaKey, name string) []expr.Any {
	b := make([]byte, 16) // IFNAMSIZ, zero padded
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: reg1}, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: b}}
}

func udpDport(p uint16) []expr.Any {
	return concat(l4proto(unix.IPPROTO_UDP), []expr.Any{
		load(expr.PayloadBaseTransportHeader, offDport, 2, reg1),
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: portKey(p)},
	})
}

func ctEstablished() []expr.Any {
	return ctState(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED)
}

// ctState matches any of the conntrack state bits.
func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// addrPort is "ADDR . th PORT @set": the address at off, the port at poff.
func addrPort(v6 bool, off, poff uint32, s *nftables.Set) []expr.Any {
	if v6 {
		return concat(nfproto(nfproto6), []expr.Any{
			load(expr.PayloadBaseNetworkHeader, off, 16, reg1),
			load(expr.PayloadBaseTransportHeader, poff, 2, regPort6),
			lookup(s),
		})
	}
	return concat(nfproto(nfproto4), []expr.Any{
		load(expr.PayloadBaseNetworkHeader, off, 4, reg1),
		load(expr.PayloadBaseTransportHeader, poff, 2, regPort4),
		lookup(s),
	})
}

// ruleExprs builds the kernel expressions of one rule kind; its nft
// spelling is ruleText[k].
func ruleExprs(k ruleKind, sets map[string]*nftables.Set) ([]expr.Any, error) {
	set := func(name string) (*nftables.Set, error) {
		if s := sets[name]; s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("firewall: rule %q needs set %s", ruleText[k], name)
	}
	addr := func(v6 bool, off uint32, name string) ([]expr.Any, error) {
		s, err := set(name)
		if err != nil {
			return nil, err
		}
		p, n := byte(nfproto4), uint32(4)
		if v6 {
			p, n = nfproto6, 16
		}
		return concat(nfproto(p), []expr.Any{load(expr.PayloadBaseNetworkHeader, off, n, reg1), lookup(s)}, drop()), nil
	}
	port := func(proto byte, name string) ([]expr.Any, error) {
		s, err := set(name)
		if err != nil {
			return nil, err
		}
		return concat(l4proto(proto), []expr.Any{load(expr.PayloadBaseTransportHeader, offDport, 2, reg1), lookup(s)}, drop()), nil
	}
	allow := func(v6, est bool, off, poff uint32) ([]expr.Any, error) {
		name := setAllow4
		if v6 {
			name = setAllow6
		}
		s, err := set(name)
		if err != nil {
			return nil, err
		}
		var pre []expr.Any
		if est {
			pre = ctEstablished()
		}
		return concat(pre, addrPort(v6, off, poff, s), accept()), nil
	}
	switch k {
	case ruleDropSaddr4:
		return addr(false, offSaddr4, setBlock4)
	case ruleDropSaddr6:
		return addr(true, offSaddr6, setBlock6)
	case ruleDropDaddr4:
		return addr(false, offDaddr4, setBlock4)
	case ruleDropDaddr6:
		return addr(true, offDaddr6, setBlock6)
	case ruleDropDportTCP:
		return port(unix.IPPROTO_TCP, setPorts)
	case ruleDropDportUDP:
		return port(unix.IPPROTO_UDP, setPorts)
	case ruleDropInportTCP:
		return port(unix.IPPROTO_TCP, setInPorts)
	case ruleDropInportUDP:
		return port(unix.IPPROTO_UDP, setInPorts)
	case ruleAcceptIifLo:
		return concat(ifname(expr.MetaKeyIIFNAME, "lo"), accept()), nil
	case ruleAcceptOifLo:
		return concat(ifname(expr.MetaKeyOIFNAME, "lo"), accept()), nil
	case ruleAcceptDHCP4In:
		return concat(udpDport(68), accept()), nil
	case ruleAcceptDHCP6In:
		return concat(udpDport(546), accept()), nil
	case ruleAcceptDHCP4Out:
		return concat(udpDport(67), accept()), nil
	case ruleAcceptDHCP6Out:
		return concat(udpDport(547), accept()), nil
	case ruleAcceptND:
		// Router solicitation (133) to neighbour advertisement (136):
		// without them IPv6 loses its neighbours, management included.
		return concat(l4proto(unix.IPPROTO_ICMPV6), []expr.Any{
			load(expr.PayloadBaseTransportHeader, 0, 1, reg1),
			&expr.Range{Op: expr.CmpOpEq, Register: reg1, FromData: []byte{133}, ToData: []byte{136}},
		}, accept()), nil
	case ruleAcceptRelatedICMP:
		return concat(l4proto(unix.IPPROTO_ICMP), ctState(expr.CtStateBitRELATED), accept()), nil
	case ruleAcceptRelatedICMP6:
		return concat(l4proto(unix.IPPROTO_ICMPV6), ctState(expr.CtStateBitRELATED), accept()), nil
	case ruleAcceptAllowIn4:
		return allow(false, false, offSaddr4, offDport)
	case ruleAcceptAllowIn6:
		return allow(true, false, offSaddr6, offDport)
	case ruleAcceptReplyIn4:
		return allow(false, true, offSaddr4, offSport)
	case ruleAcceptReplyIn6:
		return allow(true, true, offSaddr6, offSport)
	case ruleAcceptAllowOut4:
		return allow(false, false, offDaddr4, offDport)
	case ruleAcceptAllowOut6:
		return allow(true, false, offDaddr6, offDport)
	case ruleAcceptReplyOut4:
		return allow(false, true, offDaddr4, offSport)
	case ruleAcceptReplyOut6:
		return allow(true, true, offDaddr6, offSport)
	case ruleDropAll:
		return drop(), nil
	}
	return nil, fmt.Errorf("firewall: unknown rule kind %d", k)
}

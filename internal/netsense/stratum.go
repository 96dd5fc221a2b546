// Package netsense finds mining in network traffic: it reassembles TCP
// streams from captures and recognises mining protocols by parsing their
// JSON-RPC messages (any key order, whitespace or line splitting), pool
// names in DNS queries and TLS ClientHello SNI.
package netsense

import (
	"encoding/json"
	"strings"
)

// Dialects recognised.
const (
	DialectXMR      = "monero-xmrig" // login/job/submit/keepalived
	DialectStratum1 = "stratum-v1"   // mining.subscribe/authorize/notify/submit
	DialectEthStrat = "ethereumstratum/1.0.0"
	DialectEthProxy = "ethproxy" // eth_submitLogin/eth_getWork/...
	DialectGetwork  = "getwork"  // HTTP getwork/getblocktemplate
)

// Session is what a mining conversation revealed.
type Session struct {
	Dialect   string
	Worker    string // login or authorize user (often wallet.worker)
	Algorithm string
	Agent     string
	Shares    int // submits seen
	Jobs      int // jobs/notifications seen
	Messages  int
	Other     int // JSON messages that are not mining: the content is readable and innocent
}

type rpc struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
}

// Feed judges one JSON message (a line, an HTTP body or a WebSocket
// payload); it reports whether the message was a mining protocol message.
func (s *Session) Feed(msg []byte) bool {
	var m rpc
	if err := json.Unmarshal(msg, &m); err != nil {
		return false
	}
	method := strings.ToLower(m.Method)
	switch {
	case method == "login":
		s.set(DialectXMR)
		var p struct {
			Login string `json:"login"`
			Agent string `json:"agent"`
			Algo  any    `json:"algo"`
		}
		if json.Unmarshal(m.Params, &p) == nil {
			s.Worker, s.Agent = first(s.Worker, p.Login), first(s.Agent, p.Agent)
			if a, ok := p.Algo.([]any); ok && len(a) > 0 {
				if str, ok := a[0].(string); ok {
					s.Algorithm = first(s.Algorithm, str)
				}
			}
		}
	case method == "job":
		s.set(DialectXMR)
		s.Jobs++
		var p struct {
			Algo string `json:"algo"`
		}
		if json.Unmarshal(m.Params, &p) == nil {
			s.Algorithm = first(s.Algorithm, p.Algo)
		}
	case method == "submit" || method == "keepalived":
		s.set(DialectXMR)
		if method == "submit" {
			s.Shares++
		}
	case method == "mining.subscribe":
		var p []any
		_ = json.Unmarshal(m.Params, &p)
		if len(p) > 1 {
			if v, ok := p[1].(string); ok && strings.HasPrefix(strings.ToLower(v), "ethereumstratum") {
				s.set(DialectEthStrat)
			}
		}
		s.set(DialectStratum1)
		if len(p) > 0 {
			if v, ok := p[0].(string); ok {
				s.Agent = first(s.Agent, v)
			}
		}
	case method == "mining.authorize":
		s.set(DialectStratum1)
		var p []any
		if json.Unmarshal(m.Params, &p) == nil && len(p) > 0 {
			if v, ok := p[0].(string); ok {
				s.Worker = first(s.Worker, v)
			}
		}
	case method == "mining.submit":
		s.set(DialectStratum1)
		s.Shares++
	case method == "mining.notify":
		s.set(DialectStratum1)
		s.Jobs++
	case strings.HasPrefix(method, "mining.") && (method == "mining.set_difficulty" || method == "mining.set_target" ||
		method == "mining.extranonce.subscribe" || method == "mining.set_extranonce" || method == "mining.get_transactions"):
		s.set(DialectStratum1)
	case method == "eth_submitlogin":
		s.set(DialectEthProxy)
		var p []any
		if json.Unmarshal(m.Params, &p) == nil && len(p) > 0 {
			if v, ok := p[0].(string); ok {
				s.Worker = first(s.Worker, v)
			}
		}
	case method == "eth_getwork" || method == "eth_submithashrate":
		s.set(DialectEthProxy)
	case method == "eth_submitwork":
		s.set(DialectEthProxy)
		s.Shares++
	case method == "getwork" || method == "getblocktemplate" || method == "submitblock":
		s.set(DialectGetwork)
		if method == "submitblock" {
			s.Shares++
		}
		if method == "getwork" && len(m.Params) > 2 && string(m.Params) != "[]" {
			s.Shares++ // getwork with data is a submission
		}
	default:
		// A reply carrying an XMR job is still the XMR protocol.
		if len(m.Result) > 0 && s.Dialect == "" {
			var r struct {
				Job *struct {
					Blob  string `json:"blob"`
					JobID string `json:"job_id"`
				} `json:"job"`
			}
			if json.Unmarshal(m.Result, &r) == nil && r.Job != nil && r.Job.Blob != "" && r.Job.JobID != "" {
				s.set(DialectXMR)
				s.Jobs++
				s.Messages++
				return true
			}
		}
		s.Other++
		return false
	}
	s.Messages++
	return true
}

// set records the dialect; a more specific one wins over Stratum v1.
func (s *Session) set(d string) {
	if s.Dialect == "" || s.Dialect == DialectStratum1 && d == DialectEthStrat {
		s.Dialect = d
	}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	if len(b) > 256 {
		b = b[:256]
	}
	return b
}

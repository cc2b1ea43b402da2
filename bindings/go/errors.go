// errors.go - libmq's MQ_ERR_* codes as Go errors: one *Error type and a
// sentinel per code, for errors.Is / errors.As.
//
// Threading: immutable values, safe from any goroutine.
package mq

import (
	"fmt"

	"github.com/libmq/libmq/bindings/go/internal/cmq"
)

// Error is an error reported by libmq. Op names the call, Code is the
// negative MQ_ERR_* code and Reason an MQTT reason code from the broker
// (0 if none). errors.Is(err, mq.ErrTopic) compares codes.
// Bad arguments (wrong topic, QoS, option values) are *Error values too.
type Error struct {
	Op     string
	Code   int
	Reason int
	// Properties of the broker's packet behind the error (MQTT 5: the
	// Reason String and user properties of a DISCONNECT, PUBACK, SUBACK,
	// CONNACK), or nil.
	Properties *Properties
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s (%s)", cmq.Mq_strerror(e.Code), cmq.Mq_err_name(e.Code))
	if e.Reason != 0 {
		msg += fmt.Sprintf(": %s (0x%02x)", cmq.Mq_reason_string(e.Reason), e.Reason)
	}
	if e.Op != "" {
		return "mq: " + e.Op + ": " + msg
	}
	return "mq: " + msg
}

// Name is the symbolic name of the code ("MQ_ERR_TOPIC").
func (e *Error) Name() string { return cmq.Mq_err_name(e.Code) }

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinel errors for errors.Is, one per MQ_ERR_* code of mq.h.
var (
	ErrNoMem        = &Error{Code: cmq.MQ_ERR_NOMEM}
	ErrInval        = &Error{Code: cmq.MQ_ERR_INVAL}
	ErrState        = &Error{Code: cmq.MQ_ERR_STATE}
	ErrQueueFull    = &Error{Code: cmq.MQ_ERR_QUEUE_FULL}
	ErrTooLarge     = &Error{Code: cmq.MQ_ERR_TOO_LARGE}
	ErrTopic        = &Error{Code: cmq.MQ_ERR_TOPIC}
	ErrQoS          = &Error{Code: cmq.MQ_ERR_QOS}
	ErrUTF8         = &Error{Code: cmq.MQ_ERR_UTF8}
	ErrProperty     = &Error{Code: cmq.MQ_ERR_PROPERTY}
	ErrURI          = &Error{Code: cmq.MQ_ERR_URI}
	ErrAgain        = &Error{Code: cmq.MQ_ERR_AGAIN}
	ErrTimeout      = &Error{Code: cmq.MQ_ERR_TIMEOUT}
	ErrNoConn       = &Error{Code: cmq.MQ_ERR_NO_CONN}
	ErrDNS          = &Error{Code: cmq.MQ_ERR_DNS}
	ErrConnRefused  = &Error{Code: cmq.MQ_ERR_CONNREFUSED}
	ErrIO           = &Error{Code: cmq.MQ_ERR_IO}
	ErrClosed       = &Error{Code: cmq.MQ_ERR_CLOSED}
	ErrMalformed    = &Error{Code: cmq.MQ_ERR_MALFORMED}
	ErrProtocol     = &Error{Code: cmq.MQ_ERR_PROTOCOL}
	ErrRefused      = &Error{Code: cmq.MQ_ERR_REFUSED}
	ErrKeepalive    = &Error{Code: cmq.MQ_ERR_KEEPALIVE}
	ErrTLS          = &Error{Code: cmq.MQ_ERR_TLS}
	ErrNotSupported = &Error{Code: cmq.MQ_ERR_NOT_SUPPORTED}
	ErrNotFound     = &Error{Code: cmq.MQ_ERR_NOT_FOUND}
	ErrSystem       = &Error{Code: cmq.MQ_ERR_SYSTEM}
	ErrDestroyed    = &Error{Code: cmq.MQ_ERR_DESTROYED}
	ErrPersist      = &Error{Code: cmq.MQ_ERR_PERSIST}
	ErrAborted      = &Error{Code: cmq.MQ_ERR_ABORTED}
	ErrFile         = &Error{Code: cmq.MQ_ERR_FILE}
	// ErrProxy: the proxy (Options.Proxy) refused or failed to open the
	// tunnel to the broker; ErrProxyAuth: it refused the credentials.
	ErrProxy     = &Error{Code: cmq.MQ_ERR_PROXY}
	ErrProxyAuth = &Error{Code: cmq.MQ_ERR_PROXY_AUTH}

	// ErrNotSupport is the old name of ErrNotSupported.
	ErrNotSupport = ErrNotSupported
)

// sentinels lists every sentinel (for the tests and ErrorCodes).
var sentinels = []*Error{ErrNoMem, ErrInval, ErrState, ErrQueueFull,
	ErrTooLarge, ErrTopic, ErrQoS, ErrUTF8, ErrProperty, ErrURI, ErrAgain,
	ErrTimeout, ErrNoConn, ErrDNS, ErrConnRefused, ErrIO, ErrClosed,
	ErrMalformed, ErrProtocol, ErrRefused, ErrKeepalive, ErrTLS,
	ErrNotSupported, ErrNotFound, ErrSystem, ErrDestroyed, ErrPersist,
	ErrAborted, ErrFile, ErrProxy, ErrProxyAuth}

// ErrorCodes returns the sentinel of every MQ_ERR_* code.
func ErrorCodes() []*Error { return append([]*Error(nil), sentinels...) }

func mqErr(op string, rc int) error {
	if rc >= 0 {
		return nil
	}
	return &Error{Op: op, Code: rc}
}

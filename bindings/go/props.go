// props.go - MQTT 5 properties as a Go struct, converted to and from
// libmq's mq_props lists (every property id of mq.h, both ways).
//
// Threading: a Properties value is plain data; the conversions run on the
// calling goroutine and copy everything.
package mq

import (
	"strings"

	"github.com/libmq/libmq/bindings/go/internal/cmq"
)

// UserProperty is an MQTT 5 user property (key, value); they may repeat.
type UserProperty struct{ Key, Value string }

// Properties holds MQTT 5 properties, to send (PublishMessage,
// SubscribeMany, Options.ConnectProperties, Will.Properties, ...) or as
// received (Message, ConnectInfo, DisconnectInfo, AuthInfo). A nil pointer
// or an empty string or slice means "absent". Which properties a packet may
// carry is checked by libmq (ErrProperty).
type Properties struct {
	PayloadFormat          *byte          // 0x01: 1 = UTF-8 payload
	MessageExpiry          *uint32        // 0x02: seconds
	ContentType            string         // 0x03
	ResponseTopic          string         // 0x08
	CorrelationData        []byte         // 0x09
	SubscriptionIdentifier []uint32       // 0x0B: one to send; received PUBLISH may carry several
	SessionExpiry          *uint32        // 0x11: seconds
	AssignedClientID       string         // 0x12
	ServerKeepAlive        *uint16        // 0x13: seconds
	AuthMethod             string         // 0x15
	AuthData               []byte         // 0x16
	RequestProblemInfo     *byte          // 0x17
	WillDelay              *uint32        // 0x18: seconds
	RequestResponseInfo    *byte          // 0x19
	ResponseInfo           string         // 0x1A
	ServerReference        string         // 0x1C
	ReasonString           string         // 0x1F
	ReceiveMaximum         *uint16        // 0x21
	TopicAliasMaximum      *uint16        // 0x22
	TopicAlias             *uint16        // 0x23
	MaximumQoS             *byte          // 0x24
	RetainAvailable        *byte          // 0x25
	User                   []UserProperty // 0x26
	MaximumPacketSize      *uint32        // 0x27
	WildcardSubAvailable   *byte          // 0x28
	SubIDAvailable         *byte          // 0x29
	SharedSubAvailable     *byte          // 0x2A
}

// Ptr returns a pointer to v, for the optional numbers of Properties:
// &mq.Properties{MessageExpiry: mq.Ptr[uint32](60)}.
func Ptr[T any](v T) *T { return &v }

var nilProps = cmq.SwigcptrStruct_SS_mq_props(0)

// cProps builds an mq_props list; free it with freeProps. nil -> NULL.
func cProps(op string, p *Properties) (cmq.Struct_SS_mq_props, error) {
	if p == nil {
		return nilProps, nil
	}
	l := cmq.Mq_props_new()
	if l.Swigcptr() == 0 {
		return nilProps, &Error{Op: op, Code: cmq.MQ_ERR_NOMEM}
	}
	rc := 0
	add := func(id int, v uint32) {
		if rc == 0 {
			rc = cmq.Mq_props_add_int(l, id, uint(v))
		}
	}
	str := func(id int, s string) {
		if rc == 0 && s != "" {
			if strings.IndexByte(s, 0) >= 0 {
				rc = cmq.MQ_ERR_UTF8
				return
			}
			rc = cmq.Mq_props_add_string(l, id, s)
		}
	}
	bin := func(id int, b []byte) {
		if rc == 0 && b != nil {
			rc = cmq.Mq_props_add_binary(l, id, b)
		}
	}
	u8 := func(id int, v *byte) {
		if v != nil {
			add(id, uint32(*v))
		}
	}
	u16 := func(id int, v *uint16) {
		if v != nil {
			add(id, uint32(*v))
		}
	}
	u32 := func(id int, v *uint32) {
		if v != nil {
			add(id, *v)
		}
	}
	u8(cmq.MQ_PROP_PAYLOAD_FORMAT_INDICATOR, p.PayloadFormat)
	u32(cmq.MQ_PROP_MESSAGE_EXPIRY_INTERVAL, p.MessageExpiry)
	str(cmq.MQ_PROP_CONTENT_TYPE, p.ContentType)
	str(cmq.MQ_PROP_RESPONSE_TOPIC, p.ResponseTopic)
	bin(cmq.MQ_PROP_CORRELATION_DATA, p.CorrelationData)
	for _, id := range p.SubscriptionIdentifier {
		add(cmq.MQ_PROP_SUBSCRIPTION_IDENTIFIER, id)
	}
	u32(cmq.MQ_PROP_SESSION_EXPIRY_INTERVAL, p.SessionExpiry)
	str(cmq.MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER, p.AssignedClientID)
	u16(cmq.MQ_PROP_SERVER_KEEP_ALIVE, p.ServerKeepAlive)
	str(cmq.MQ_PROP_AUTHENTICATION_METHOD, p.AuthMethod)
	bin(cmq.MQ_PROP_AUTHENTICATION_DATA, p.AuthData)
	u8(cmq.MQ_PROP_REQUEST_PROBLEM_INFORMATION, p.RequestProblemInfo)
	u32(cmq.MQ_PROP_WILL_DELAY_INTERVAL, p.WillDelay)
	u8(cmq.MQ_PROP_REQUEST_RESPONSE_INFORMATION, p.RequestResponseInfo)
	str(cmq.MQ_PROP_RESPONSE_INFORMATION, p.ResponseInfo)
	str(cmq.MQ_PROP_SERVER_REFERENCE, p.ServerReference)
	str(cmq.MQ_PROP_REASON_STRING, p.ReasonString)
	u16(cmq.MQ_PROP_RECEIVE_MAXIMUM, p.ReceiveMaximum)
	u16(cmq.MQ_PROP_TOPIC_ALIAS_MAXIMUM, p.TopicAliasMaximum)
	u16(cmq.MQ_PROP_TOPIC_ALIAS, p.TopicAlias)
	u8(cmq.MQ_PROP_MAXIMUM_QOS, p.MaximumQoS)
	u8(cmq.MQ_PROP_RETAIN_AVAILABLE, p.RetainAvailable)
	for _, u := range p.User {
		if rc == 0 {
			if strings.IndexByte(u.Key, 0) >= 0 || strings.IndexByte(u.Value, 0) >= 0 {
				rc = cmq.MQ_ERR_UTF8
			} else {
				rc = cmq.Mq_props_add_user(l, u.Key, u.Value)
			}
		}
	}
	u32(cmq.MQ_PROP_MAXIMUM_PACKET_SIZE, p.MaximumPacketSize)
	u8(cmq.MQ_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE, p.WildcardSubAvailable)
	u8(cmq.MQ_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE, p.SubIDAvailable)
	u8(cmq.MQ_PROP_SHARED_SUBSCRIPTION_AVAILABLE, p.SharedSubAvailable)
	if rc < 0 {
		cmq.Mq_props_free(l)
		return nilProps, &Error{Op: op + " (Properties)", Code: rc}
	}
	return l, nil
}

func freeProps(l cmq.Struct_SS_mq_props) {
	if l.Swigcptr() != 0 {
		cmq.Mq_props_free(l)
	}
}

// goProps copies a received list (nil when there is none).
func goProps(p cmq.Struct_SS_mq_props) *Properties {
	if p.Swigcptr() == 0 || cmq.Mq_props_count(p) == 0 {
		return nil
	}
	getInt := func(id int, n int64) (uint32, bool) {
		if n == 0 && cmq.Mq_props_has(p, id) == 0 {
			return 0, false
		}
		v := cmq.Mq_props_get_int_value(p, id, n)
		return uint32(v), v >= 0
	}
	u8 := func(id int) *byte {
		if v, ok := getInt(id, 0); ok {
			b := byte(v)
			return &b
		}
		return nil
	}
	u16 := func(id int) *uint16 {
		if v, ok := getInt(id, 0); ok {
			s := uint16(v)
			return &s
		}
		return nil
	}
	u32 := func(id int) *uint32 {
		if v, ok := getInt(id, 0); ok {
			return &v
		}
		return nil
	}
	str := func(id int) string { return cmq.Mq_props_get_string(p, id) }
	bin := func(id int) []byte { return cmq.Mq_props_get_binary(p, id) }
	out := &Properties{
		PayloadFormat:        u8(cmq.MQ_PROP_PAYLOAD_FORMAT_INDICATOR),
		MessageExpiry:        u32(cmq.MQ_PROP_MESSAGE_EXPIRY_INTERVAL),
		ContentType:          str(cmq.MQ_PROP_CONTENT_TYPE),
		ResponseTopic:        str(cmq.MQ_PROP_RESPONSE_TOPIC),
		CorrelationData:      bin(cmq.MQ_PROP_CORRELATION_DATA),
		SessionExpiry:        u32(cmq.MQ_PROP_SESSION_EXPIRY_INTERVAL),
		AssignedClientID:     str(cmq.MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER),
		ServerKeepAlive:      u16(cmq.MQ_PROP_SERVER_KEEP_ALIVE),
		AuthMethod:           str(cmq.MQ_PROP_AUTHENTICATION_METHOD),
		AuthData:             bin(cmq.MQ_PROP_AUTHENTICATION_DATA),
		RequestProblemInfo:   u8(cmq.MQ_PROP_REQUEST_PROBLEM_INFORMATION),
		WillDelay:            u32(cmq.MQ_PROP_WILL_DELAY_INTERVAL),
		RequestResponseInfo:  u8(cmq.MQ_PROP_REQUEST_RESPONSE_INFORMATION),
		ResponseInfo:         str(cmq.MQ_PROP_RESPONSE_INFORMATION),
		ServerReference:      str(cmq.MQ_PROP_SERVER_REFERENCE),
		ReasonString:         str(cmq.MQ_PROP_REASON_STRING),
		ReceiveMaximum:       u16(cmq.MQ_PROP_RECEIVE_MAXIMUM),
		TopicAliasMaximum:    u16(cmq.MQ_PROP_TOPIC_ALIAS_MAXIMUM),
		TopicAlias:           u16(cmq.MQ_PROP_TOPIC_ALIAS),
		MaximumQoS:           u8(cmq.MQ_PROP_MAXIMUM_QOS),
		RetainAvailable:      u8(cmq.MQ_PROP_RETAIN_AVAILABLE),
		MaximumPacketSize:    u32(cmq.MQ_PROP_MAXIMUM_PACKET_SIZE),
		WildcardSubAvailable: u8(cmq.MQ_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE),
		SubIDAvailable:       u8(cmq.MQ_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE),
		SharedSubAvailable:   u8(cmq.MQ_PROP_SHARED_SUBSCRIPTION_AVAILABLE),
	}
	for n := int64(0); ; n++ {
		v, ok := getInt(cmq.MQ_PROP_SUBSCRIPTION_IDENTIFIER, n)
		if !ok {
			break
		}
		out.SubscriptionIdentifier = append(out.SubscriptionIdentifier, v)
	}
	nu := cmq.Mq_props_user_count(p)
	for i := int64(0); i < nu; i++ {
		out.User = append(out.User, UserProperty{
			cmq.Mq_props_user_key(p, i), cmq.Mq_props_user_value(p, i)})
	}
	return out
}

"""Independent RFC 9421 reference logic used only to generate test vectors.

Written from the RFC text (and RFC 8941 for structured fields, WHATWG URL for
application/x-www-form-urlencoded), deliberately sharing nothing with the Rust implementation the
vectors judge. Not run by CI. Errors are raised as VecError(kind) with the stable snake_case kinds
documented in vectors/README.md.
"""
import base64
import hashlib
import json
import re
from urllib.parse import unquote_to_bytes

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature


class VecError(Exception):
    def __init__(self, kind, detail=""):
        super().__init__("%s: %s" % (kind, detail))
        self.kind = kind


# ---------------------------------------------------------------- RFC 8941 structured fields
class Token(str):
    pass


class Bytes(bytes):
    pass


KEY_START = re.compile(r"[a-z*]")
KEY_CHARS = re.compile(r"[a-z0-9_\-.*]*")
TOKEN_CHARS = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")


def put(pairs, k, v):
    """Ordered-map assignment: overwrite in place, else append."""
    if any(a == k for a, _ in pairs):
        return [(a, v if a == k else b) for a, b in pairs]
    return pairs + [(k, v)]


class SfParser:
    def __init__(self, s, err):
        self.s, self.i, self.err = s, 0, err

    def fail(self, why):
        raise VecError(self.err, "%s at %d in %r" % (why, self.i, self.s))

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def sp(self):
        while self.peek() == " ":
            self.i += 1

    def ows(self):
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def top(self, kind):
        self.sp()
        v = {"list": self.list_, "dictionary": self.dict_, "item": self.item}[kind]()
        self.sp()
        if self.i != len(self.s):
            self.fail("trailing characters")
        return v

    def list_(self):
        out = []
        while self.i < len(self.s):
            out.append(self.item_or_inner())
            self.ows()
            if self.i >= len(self.s):
                return out
            if self.peek() != ",":
                self.fail("expected comma")
            self.i += 1
            self.ows()
            if self.i >= len(self.s):
                self.fail("trailing comma")
        return out

    def dict_(self):
        out = []  # ordered (key, value) pairs; later duplicates overwrite
        while self.i < len(self.s):
            k = self.key()
            if self.peek() == "=":
                self.i += 1
                v = self.item_or_inner()
            else:
                v = (True, self.params())
            out = put(out, k, v)
            self.ows()
            if self.i >= len(self.s):
                return out
            if self.peek() != ",":
                self.fail("expected comma")
            self.i += 1
            self.ows()
            if self.i >= len(self.s):
                self.fail("trailing comma")
        return out

    def item_or_inner(self):
        return self.inner() if self.peek() == "(" else self.item()

    def inner(self):
        if self.peek() != "(":
            self.fail("expected (")
        self.i += 1
        items = []
        while self.i < len(self.s):
            self.sp()
            if self.peek() == ")":
                self.i += 1
                return (items, self.params())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                self.fail("expected space or )")
        self.fail("unterminated inner list")

    def item(self):
        return (self.bare(), self.params())

    def params(self):
        out = []
        while self.peek() == ";":
            self.i += 1
            self.sp()
            k = self.key()
            v = True
            if self.peek() == "=":
                self.i += 1
                v = self.bare()
            out = put(out, k, v)
        return out

    def key(self):
        if not KEY_START.match(self.peek()):
            self.fail("bad key")
        m = KEY_CHARS.match(self.s, self.i + 1)
        k = self.s[self.i:m.end()]
        self.i = m.end()
        return k

    def bare(self):
        c = self.peek()
        if c == "-" or c.isdigit():
            return self.number()
        if c == '"':
            return self.string()
        if c == ":":
            end = self.s.find(":", self.i + 1)
            if end < 0:
                self.fail("unterminated byte sequence")
            body = self.s[self.i + 1:end]
            # a malformed Byte Sequence is reported as bad_base64 whatever the field
            if not re.fullmatch(r"[A-Za-z0-9+/=]*", body):
                raise VecError("bad_base64", body)
            try:
                v = Bytes(base64.b64decode(body, validate=True))
            except Exception:
                raise VecError("bad_base64", body)
            self.i = end + 1
            return v
        if c == "?":
            nxt = self.s[self.i + 1:self.i + 2]
            if nxt not in ("0", "1"):
                self.fail("bad boolean")
            self.i += 2
            return nxt == "1"
        if c == "*" or c.isalpha():
            m = TOKEN_CHARS.match(self.s, self.i + 1)
            v = Token(self.s[self.i:m.end()])
            self.i = m.end()
            return v
        self.fail("unexpected character")

    def number(self):
        m = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,3})?").match(self.s, self.i)
        if not m:
            self.fail("bad number")
        txt = m.group(0)
        if "." in txt:
            if len(txt.lstrip("-").split(".")[0]) > 12:
                self.fail("decimal too long")
            self.i = m.end()
            return float(txt)
        self.i = m.end()
        if self.peek().isdigit():
            self.fail("integer too long")
        return int(txt)

    def string(self):
        self.i += 1
        out = []
        while self.i < len(self.s):
            c = self.s[self.i]
            self.i += 1
            if c == "\\":
                if self.i >= len(self.s) or self.s[self.i] not in '"\\':
                    self.fail("bad escape")
                out.append(self.s[self.i])
                self.i += 1
            elif c == '"':
                return "".join(out)
            elif not (0x20 <= ord(c) <= 0x7E):
                self.fail("bad string character")
            else:
                out.append(c)
        self.fail("unterminated string")


def ser_bare(v):
    if v is True:
        return "?1"
    if v is False:
        return "?0"
    if isinstance(v, Bytes):
        return ":" + base64.b64encode(v).decode() + ":"
    if isinstance(v, Token):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        s = ("%.3f" % v).rstrip("0")
        return s + "0" if s.endswith(".") else s
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(v)


def ser_params(ps):
    return "".join(";" + k if v is True else ";%s=%s" % (k, ser_bare(v)) for k, v in ps)


def ser_item(it):
    return ser_bare(it[0]) + ser_params(it[1])


def ser_member(m):
    if isinstance(m[0], list):
        return "(" + " ".join(ser_item(x) for x in m[0]) + ")" + ser_params(m[1])
    return ser_item(m)


def ser_list(lst):
    return ", ".join(ser_member(m) for m in lst)


def ser_dict(d):
    return ", ".join(k + ser_params(v[1]) if v[0] is True else k + "=" + ser_member(v) for k, v in d)


def parse_sf(s, kind, err="invalid_structured_field"):
    return SfParser(s, err).top(kind)


def serialize_sf(v, kind):
    return {"list": ser_list, "dictionary": ser_dict, "item": ser_item}[kind](v)


# ---------------------------------------------------------------- HTTP/1.1 messages
class Message:
    def __init__(self, raw, scheme="https"):
        self.raw = raw
        self.scheme = scheme
        head, _, rest = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        start = lines[0]
        parts = start.split(" ", 2)
        if start.startswith("HTTP/"):
            self.kind = "response"
            self.status = parts[1]
        else:
            self.kind = "request"
            self.method, self.target = parts[0], parts[1]
        self.headers = self._fields(lines[1:])
        self.trailers = []
        if any(v.strip().lower() == "chunked" for n, v in self.headers if n == "transfer-encoding"):
            body = b""
            r = rest
            while True:
                size_line, _, r = r.partition("\r\n")
                size = int(size_line.split(";")[0], 16)
                if size == 0:
                    break
                body += r[:size].encode()
                r = r[size + 2:]
            tl = r.split("\r\n\r\n")[0]
            self.trailers = self._fields(tl.split("\r\n") if tl else [])
            self.body = body
        else:
            self.body = rest.encode()

    @staticmethod
    def _fields(lines):
        out = []
        for ln in lines:
            if ln[:1] in (" ", "\t") and out:
                # obs-fold: keep it; canonicalization replaces it (RFC 9421 2.1 step 3)
                out[-1] = (out[-1][0], out[-1][1] + "\r\n" + ln)
                continue
            name, _, value = ln.partition(":")
            out.append((name.lower(), value))
        return out

    def field_values(self, name, trailers=False):
        return [v for n, v in (self.trailers if trailers else self.headers) if n == name]

    # derived parts
    def uri_parts(self):
        """(form, scheme, authority, path, query): the target URI (RFC 9110 7.1, RFC 9112 3.3).
        query is None without '?'; asterisk-form and authority-form have an empty path and query."""
        t = self.target
        if "#" in t:
            # RFC 9112 3.2: no request-target form has a fragment
            raise VecError("invalid_target_uri", "fragment in the request-target")
        hosts = self.field_values("host")
        # RFC 9112 3.2: a request with more than one Host field line has no authority
        host = hosts[0].strip(" \t") if len(hosts) == 1 else (SEVERAL_HOSTS if hosts else None)
        if t.startswith("/"):
            path, q, query = t.partition("?")
            return "origin", self.scheme, host, path, (query if q else None)
        m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)", t)
        if m:  # absolute-form; its authority replaces Host (RFC 9112 3.2.2)
            path, q, query = m.group(3).partition("?")
            return "absolute", m.group(1), m.group(2), path, (query if q else None)
        if t == "*":
            return "asterisk", self.scheme, host, "", None
        return "authority", self.scheme, t, "", None


def canon_field_value(v):
    # RFC 9421 2.1: strip leading/trailing whitespace, obs-fold -> single space
    v = re.sub(r"[ \t]*\r\n[ \t]+", " ", v)
    return v.strip(" \t")


# The authority of an origin- or asterisk-form request with several Host field lines: none.
SEVERAL_HOSTS = object()

REG_NAME = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")


def normalize_authority(auth, scheme):
    """RFC 9110 4.2.3 / RFC 3986 6.2.2-6.2.3: host lower-cased, port as a number, omitted when empty
    or the scheme's default. Malformed (RFC 9110 4.2.1 empty host, 4.2.4 userinfo, RFC 3986 3.2.2
    IP-literal without zone ids, 3.2.3 port) -> invalid_target_uri."""
    import ipaddress
    if auth is None:
        raise VecError("missing_component", "no authority")
    if auth is SEVERAL_HOSTS:
        raise VecError("invalid_target_uri", "more than one Host field line (RFC 9112 3.2)")
    bad = lambda why: VecError("invalid_target_uri", "authority %r: %s" % (auth, why))
    a = auth.strip(" \t")
    if a == "":
        raise bad("empty")
    if "@" in a:
        raise bad("userinfo")
    if a.startswith("["):
        end = a.find("]")
        if end < 0:
            raise bad("unclosed IP literal")
        inner = a[1:end]
        if "%" in inner:
            raise bad("zone id")
        if inner[:1] in ("v", "V"):
            if not re.fullmatch(r"[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+", inner):
                raise bad("bad IPvFuture")
        else:
            try:
                ipaddress.IPv6Address(inner)
            except ValueError:
                raise bad("not an IPv6 address")
        host, rest = a[:end + 1], a[end + 1:]
    else:
        host, _, port = a.partition(":")
        rest = a[len(host):]
        if host == "":
            raise bad("empty host")
        if not REG_NAME.fullmatch(host):
            raise bad("bad reg-name")
    if rest and not rest.startswith(":"):
        raise bad("text after the IP literal")
    port = rest[1:] if rest else ""
    if port != "" and not re.fullmatch(r"[0-9]+", port):
        raise bad("port not a number")
    if port != "" and int(port) > 65535:
        raise bad("port too large")
    default = {"https": 443, "wss": 443, "http": 80, "ws": 80}.get(scheme.lower())
    host = host.lower()
    if port == "" or int(port) == default:
        return host
    return "%s:%d" % (host, int(port))


# WHATWG application/x-www-form-urlencoded
def form_parse(query):
    out = []
    for seq in query.split("&"):
        if seq == "":
            continue
        name, eq, value = seq.partition("=")
        dec = lambda s: unquote_to_bytes(s.replace("+", " ")).decode("utf-8", errors="replace")
        out.append((dec(name), dec(value)))
    return out


def form_encode(s):
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "*-._"):
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


DERIVED = {"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query",
           "@query-param", "@status"}
REQUEST_DERIVED = DERIVED - {"@status"}
FIELD_PARAMS = {"sf", "key", "bs", "req", "tr"}


def derived_value(msg, name, params):
    p = dict(params)
    if name == "@status":
        if msg.kind != "response":
            # RFC 9421 2.2.9: MUST NOT be used in a request
            raise VecError("status_in_request")
        return msg.status
    if msg.kind != "request":
        raise VecError("invalid_component", "%s needs a request context" % name)
    if name == "@method":
        return msg.method
    if name == "@request-target":
        return msg.target
    if name not in DERIVED:
        raise VecError("invalid_component", name)
    form, scheme, auth, path, query = msg.uri_parts()
    if name == "@scheme":
        return scheme.lower()
    if name == "@authority":
        return normalize_authority(auth, scheme)
    if name == "@target-uri":
        # RFC 9110 7.1 assembled and 4.2.3 normalized; asterisk-form, authority-form (and OPTIONS
        # with an absolute URI without path or query, RFC 9112 3.2.4) have no path.
        uri = "%s://%s" % (scheme.lower(), normalize_authority(auth, scheme))
        no_path = form in ("asterisk", "authority") or (
            form == "absolute" and msg.method == "OPTIONS" and path == "" and query is None)
        if not no_path:
            uri += (path or "/") + ("" if query is None else "?" + query)
        return uri
    if name == "@path":
        return path or "/"
    if name == "@query":
        return "?" + (query or "")
    if name == "@query-param":
        pairs = form_parse(query or "")
        want = p["name"]
        vals = [form_encode(v) for n, v in pairs if form_encode(n) == want]
        if not vals:
            raise VecError("query_param_missing", want)
        if len(vals) > 1:
            raise VecError("query_param_repeated", want)
        return vals[0]
    raise VecError("invalid_component", name)


def component_value(msg, request, name, params, sf_types):
    keys = [k for k, _ in params]
    p = dict(params)
    if name == "@signature-params":
        raise VecError("invalid_component", "@signature-params cannot be covered")
    if name.startswith("@"):
        allowed = {"req"} | ({"name"} if name == "@query-param" else set())
        for k in keys:
            if k not in allowed:
                raise VecError("unsupported_component_parameter", "%s on %s" % (k, name))
        if name == "@query-param" and (not isinstance(p.get("name"), str) or isinstance(p["name"], Token)):
            raise VecError("invalid_component", "@query-param needs a string name")
        if name not in DERIVED:
            raise VecError("invalid_component", "unknown derived component %s" % name)
    else:
        if name != name.lower() or not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9a-z]+", name):
            raise VecError("invalid_component", "field name %r not lowercase token" % name)
        for k in keys:
            if k not in FIELD_PARAMS:
                raise VecError("unsupported_component_parameter", "%s on %s" % (k, name))
        if "bs" in p and ("sf" in p or "key" in p):
            raise VecError("incompatible_component_parameters")
        if "key" in p and (not isinstance(p["key"], str) or isinstance(p["key"], Token)):
            raise VecError("invalid_component", "key must be a string")
    for k in ("req", "sf", "bs", "tr"):
        if k in p and p[k] is not True:
            raise VecError("invalid_component", "%s must be a true boolean flag" % k)
    ctx = msg
    if "req" in p:
        if msg.kind == "request":
            raise VecError("req_on_request")
        if request is None:
            raise VecError("missing_component", "no related request")
        ctx = request
    if name.startswith("@"):
        v = derived_value(ctx, name, params)
    else:
        vals = ctx.field_values(name, trailers="tr" in p)
        if not vals:
            raise VecError("missing_component", name)
        if "bs" in p:
            v = ser_list([(Bytes(canon_field_value(x).encode("utf-8")), []) for x in vals])
        else:
            joined = ", ".join(canon_field_value(x) for x in vals)
            if "key" in p:
                d = parse_sf(joined, "dictionary")
                hit = [m for k, m in d if k == p["key"]]
                if not hit:
                    raise VecError("dictionary_key_missing", p["key"])
                v = ser_member(hit[0])
            elif "sf" in p:
                t = sf_types.get(name)
                if t is None:
                    raise VecError("invalid_structured_field", "type of %s unknown" % name)
                v = serialize_sf(parse_sf(joined, t), t)
            else:
                v = joined
    if "\n" in v:
        raise VecError("invalid_component", "newline in value")
    return v


def ident_key(item):
    """Equality for component identifiers: name plus parameter set (order-insensitive)."""
    return (item[0], frozenset((k, v if not isinstance(v, (list, dict)) else str(v)) for k, v in item[1]))


SIG_PARAM_TYPES = {"created": int, "expires": int, "nonce": str, "alg": str, "keyid": str, "tag": str}


def parse_signature_params(text):
    """Parse a Signature-Input member value (inner list with parameters)."""
    p = SfParser(text, "invalid_signature_input")
    p.sp()
    inner = p.inner()
    p.sp()
    if p.i != len(text):
        p.fail("trailing characters")
    check_inner(inner)
    return inner


def check_inner(inner):
    items, params = inner
    for it in items:
        if not isinstance(it[0], str) or isinstance(it[0], Token):
            raise VecError("invalid_signature_input", "component identifiers must be strings")
    for k, v in params:
        t = SIG_PARAM_TYPES.get(k)
        if t is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise VecError("invalid_signature_input", "%s must be an integer" % k)
        if t is str and (isinstance(v, (Token, Bytes)) or not isinstance(v, str)):
            raise VecError("invalid_signature_input", "%s must be a string" % k)


def signature_base(msg, request, inner, sf_types=None):
    sf_types = sf_types or {}
    items, params = inner
    seen = set()
    out = []
    for name, cparams in items:
        k = ident_key((name, cparams))
        # RFC 9421 2.5 step 2.0: each identifier only once
        if k in seen:
            raise VecError("duplicate_component", name)
        seen.add(k)
        v = component_value(msg, request, name, cparams, sf_types)
        out.append("%s: %s\n" % (ser_item((name, cparams)), v))
    out.append('"@signature-params": ' + ser_member(inner))
    base = "".join(out)
    try:
        base.encode("ascii")
    except UnicodeEncodeError:
        # RFC 9421 2.5 step 4
        raise VecError("non_ascii_value")
    return base


# ---------------------------------------------------------------- crypto
ALGS = {"rsa-pss-sha512", "rsa-v1_5-sha256", "hmac-sha256", "ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"}
DETERMINISTIC = {"rsa-v1_5-sha256", "hmac-sha256", "ed25519"}


def pss(salt=64, mgf=None):
    return padding.PSS(mgf=padding.MGF1(mgf or hashes.SHA512()), salt_length=salt)


def _expand(seed, n):
    """n bytes from SHA-512(seed || counter): the deterministic salt of pss_sign."""
    out, i = b"", 0
    while len(out) < n:
        out += hashlib.sha512(seed + i.to_bytes(4, "big")).digest()
        i += 1
    return out[:n]


def _mgf1(seed, n, hname):
    out, i = b"", 0
    while len(out) < n:
        out += hashlib.new(hname, seed + i.to_bytes(4, "big")).digest()
        i += 1
    return out[:n]


def pss_sign(key, data, salt=64, mgf="sha512"):
    """RSASSA-PSS with SHA-512 (RFC 8017 §8.1.1, EMSA-PSS-ENCODE §9.1.1) whose salt is derived from the
    data instead of drawn at random, so that the generator reproduces its files byte for byte. Any salt
    is a valid salt (a verifier cannot tell); the result is checked with `cryptography` below."""
    priv = key.private_numbers()
    n, d = priv.public_numbers.n, priv.d
    mod_bits = n.bit_length()
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    h_len = 64
    if em_len < h_len + salt + 2:
        raise ValueError("salt too long for the key")
    m_hash = hashlib.sha512(data).digest()
    s = _expand(b"sigharness vectors: RSASSA-PSS salt\0" + data, salt)
    h = hashlib.sha512(b"\0" * 8 + m_hash + s).digest()
    db = b"\0" * (em_len - salt - h_len - 2) + b"\x01" + s
    masked = bytearray(a ^ b for a, b in zip(db, _mgf1(h, em_len - h_len - 1, mgf)))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    em = bytes(masked) + h + b"\xbc"
    sig = pow(int.from_bytes(em, "big"), d, n).to_bytes((mod_bits + 7) // 8, "big")
    mgf_hash = {"sha512": hashes.SHA512(), "sha256": hashes.SHA256()}[mgf]
    key.public_key().verify(sig, data, pss(salt, mgf_hash), hashes.SHA512())
    return sig


def ecdsa_der(key, data, h):
    """ECDSA with the RFC 6979 deterministic nonce (reproducible output), DER-encoded."""
    return key.sign(data, ec.ECDSA(h, deterministic_signing=True))


def sign(alg, key, data, salt=64):
    """Sign `data`; every algorithm is deterministic here (RFC 6979 ECDSA, derived PSS salt), so that
    regenerating the vectors reproduces them byte for byte. Verifiers cannot tell these signatures from
    randomized ones."""
    data = data.encode() if isinstance(data, str) else data
    if alg == "hmac-sha256":
        h = hmac.HMAC(key, hashes.SHA256())
        h.update(data)
        return h.finalize()
    if alg == "ed25519":
        return key.sign(data)
    if alg == "rsa-v1_5-sha256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "rsa-pss-sha512":
        return pss_sign(key, data, salt)
    if alg in ("ecdsa-p256-sha256", "ecdsa-p384-sha384"):
        h, n = (hashes.SHA256(), 32) if alg == "ecdsa-p256-sha256" else (hashes.SHA384(), 48)
        r, s = decode_dss_signature(ecdsa_der(key, data, h))
        return r.to_bytes(n, "big") + s.to_bytes(n, "big")
    raise VecError("unsupported_algorithm", alg)


def verify(alg, pub, data, sig):
    data = data.encode() if isinstance(data, str) else data
    try:
        if alg == "hmac-sha256":
            return sign(alg, pub, data) == sig
        if alg == "ed25519":
            pub.verify(sig, data)
        elif alg == "rsa-v1_5-sha256":
            pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "rsa-pss-sha512":
            pub.verify(sig, data, pss(), hashes.SHA512())
        else:
            h, n = (hashes.SHA256(), 32) if alg == "ecdsa-p256-sha256" else (hashes.SHA384(), 48)
            if len(sig) != 2 * n:
                return False
            pub.verify(encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big")),
                       data, ec.ECDSA(h))
        return True
    except InvalidSignature:
        return False


def load_private(path):
    raw = open(path, "rb").read()
    if path.endswith(".b64"):
        return base64.b64decode(raw.strip())
    return serialization.load_pem_private_key(raw, None)


def load_public(path):
    raw = open(path, "rb").read()
    if path.endswith(".b64"):
        return base64.b64decode(raw.strip())
    if b"RSA PUBLIC KEY" in raw:
        return serialization.load_pem_public_key(raw)
    return serialization.load_pem_public_key(raw)


POLICY_KEYS = {"now", "maxAge", "clockSkew", "requiredComponents", "requiredParameters", "seenNonces", "requiredTag",
               "maxValidity", "expiresSkew", "forbiddenComponents", "requireContentDigest", "revokedKeyIds",
               "keySet"}


def verify_message(msg, request, label, key_id, alg, pub, policy, sf_types=None, pub_of_jwk=None):
    """RFC 9421 3.2 under the vector policy (README). Returns the signature base or raises VecError."""
    assert set(policy) <= POLICY_KEYS, policy
    si_vals = [canon_field_value(v) for v in msg.field_values("signature-input")]
    sg_vals = [canon_field_value(v) for v in msg.field_values("signature")]
    # RFC 9421 4.1 / 4.2: both fields are Dictionaries
    si = dict(parse_sf(", ".join(si_vals), "dictionary", "invalid_signature_input")) if si_vals else {}
    sg = dict(parse_sf(", ".join(sg_vals), "dictionary", "invalid_signature_header")) if sg_vals else {}
    # RFC 9421 3.2 step 1 / 4: the label must be present in both fields
    if label not in si or label not in sg:
        raise VecError("label_missing", label)
    sigv = sg[label]
    if isinstance(sigv[0], list) or not isinstance(sigv[0], Bytes):
        raise VecError("invalid_signature_header", "member is not a Byte Sequence")
    inner = si[label]
    if not isinstance(inner[0], list):
        raise VecError("invalid_signature_input", "member is not an Inner List")
    check_inner(inner)
    params = dict(inner[1])
    covered = [ident_key(i) for i in inner[0]]
    # RFC 9421 3.2 step 4 / 3.2.1: application requirements
    for rp in policy.get("requiredParameters", []):
        if rp not in params:
            raise VecError("missing_required_parameter", rp)
    for rc in policy.get("requiredComponents", []):
        it = SfParser(rc, "invalid_component").top("item")
        if ident_key(it) not in covered:
            raise VecError("missing_required_component", rc)
    for fc in policy.get("forbiddenComponents", []):
        it = SfParser(fc, "invalid_component").top("item")
        if ident_key(it) in covered:
            raise VecError("forbidden_component", fc)
    if policy.get("requireContentDigest") and ident_key(SfParser('"content-digest"', "x").top("item")) not in covered:
        raise VecError("missing_required_component", "content-digest")
    if "requiredTag" in policy and params.get("tag") != policy["requiredTag"]:
        raise VecError("tag_mismatch")
    now = policy["now"]
    skew = policy.get("clockSkew", 0)
    if "expires" in params and now > params["expires"] + policy.get("expiresSkew", 0):
        raise VecError("expired")
    if "maxValidity" in policy:
        if "created" not in params or "expires" not in params:
            raise VecError("missing_required_parameter", "created and expires")
        if not 0 < params["expires"] - params["created"] <= policy["maxValidity"]:
            raise VecError("validity_window")
    if "created" in params and params["created"] > now + skew:
        raise VecError("created_in_future")
    if "maxAge" in policy:
        if "created" not in params:
            raise VecError("missing_required_parameter", "created")
        if now - params["created"] > policy["maxAge"]:
            raise VecError("too_old")
    if "nonce" in params and params["nonce"] in policy.get("seenNonces", []):
        raise VecError("nonce_replayed")
    # RFC 9421 3.2 step 5: key material is the group key (or, with a keySet, the set's key the
    # keyid selects); a keyid naming another key fails
    if "keyid" in params and params["keyid"] in policy.get("revokedKeyIds", []):
        raise VecError("key_revoked", params["keyid"])
    if "keySet" in policy:
        keys = json.loads(policy["keySet"])["keys"]
        if "keyid" in params:
            chosen = [k for k in keys if k.get("kid") == params["keyid"]]
        else:
            chosen = keys if len(keys) == 1 else []
        if not chosen:
            raise VecError("unknown_key", params.get("keyid", "(no keyid, several keys)"))
        jwk = chosen[0]
        # RFC 7517 4.2-4.3: a key whose use is not "sig", or whose key_ops lacks "verify", may
        # not verify
        if "use" in jwk and jwk["use"] != "sig":
            raise VecError("key_use_not_allowed", jwk["use"])
        if "key_ops" in jwk and "verify" not in jwk["key_ops"]:
            raise VecError("key_use_not_allowed", ",".join(jwk["key_ops"]))
        pub = pub_of_jwk(jwk)
    elif "keyid" in params and params["keyid"] != key_id:
        raise VecError("unknown_key", params["keyid"])
    # RFC 9421 3.2 step 6
    if "alg" in params:
        if params["alg"] not in ALGS:
            raise VecError("unsupported_algorithm", params["alg"])
        if params["alg"] != alg:
            raise VecError("key_algorithm_mismatch", params["alg"])
    base = signature_base(msg, request, inner, sf_types)
    if not verify(alg, pub, base, bytes(sigv[0])):
        raise VecError("signature_mismatch")
    if policy.get("requireContentDigest"):
        # RFC 9530 2: every sha-256 / sha-512 member must match the body
        cd = [canon_field_value(v) for v in msg.field_values("content-digest")]
        if not cd:
            raise VecError("missing_component", "content-digest")
        checked = 0
        for k, v in parse_sf(", ".join(cd), "dictionary"):
            h = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}.get(k)
            if h is None:
                continue
            if not isinstance(v[0], Bytes) or bytes(v[0]) != h(msg.body).digest():
                raise VecError("content_digest_mismatch", k)
            checked += 1
        if not checked:
            raise VecError("content_digest_mismatch", "no sha-256 / sha-512 member")
    return base

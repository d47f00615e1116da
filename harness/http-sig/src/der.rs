//! A minimal DER reader and writer, just enough to unwrap PKCS#8 / SPKI / SEC1 envelopes and to
//! encode PKCS#1 `RSAPublicKey`. Hand-written because aws-lc-rs rejects the RFC 9421 B.1.2
//! RSASSA-PSS PKCS#8 key and exposes no envelope parser, and no DER crate is in our pinned set.

use crate::error::{Error, Result};

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// OIDs (content bytes only).
pub(crate) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(crate) const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

fn err(what: &str) -> Error {
    Error::InvalidKey(format!("malformed DER: {what}"))
}

/// A cursor over DER bytes.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Read one TLV; returns (tag, content).
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8])> {
        let d = self.data;
        if d.len() < 2 {
            return Err(err("truncated header"));
        }
        let tag = d[0];
        let (len, hdr) = if d[1] < 0x80 {
            (d[1] as usize, 2)
        } else {
            let n = (d[1] & 0x7f) as usize;
            if n == 0 || n > 4 || d.len() < 2 + n {
                return Err(err("bad length"));
            }
            let mut l = 0usize;
            for &b in &d[2..2 + n] {
                l = (l << 8) | b as usize;
            }
            (l, 2 + n)
        };
        if d.len() < hdr + len {
            return Err(err("truncated content"));
        }
        self.data = &d[hdr + len..];
        Ok((tag, &d[hdr..hdr + len]))
    }

    /// Read one TLV with the expected tag.
    pub(crate) fn read(&mut self, tag: u8) -> Result<&'a [u8]> {
        let (t, c) = self.read_any()?;
        if t != tag {
            return Err(err(&format!("expected tag {tag:#04x}, found {t:#04x}")));
        }
        Ok(c)
    }

    /// Peek the next tag.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }
}

/// (algorithm OID, curve/parameter OID, key bytes) of a key envelope.
pub(crate) type Envelope<'a> = (&'a [u8], Option<&'a [u8]>, &'a [u8]);
/// (private scalar, curve OID, public point) of a SEC1 key.
pub(crate) type Sec1<'a> = (&'a [u8], Option<&'a [u8]>, Option<&'a [u8]>);

/// Parsed AlgorithmIdentifier: (algorithm OID, first parameter OID if the parameter is an OID).
pub(crate) fn algorithm_identifier(content: &[u8]) -> Result<(&[u8], Option<&[u8]>)> {
    let mut r = Reader::new(content);
    let oid = r.read(TAG_OID)?;
    let param = if r.peek_tag() == Some(TAG_OID) {
        Some(r.read(TAG_OID)?)
    } else {
        None
    };
    Ok((oid, param))
}

/// PKCS#8 PrivateKeyInfo -> (alg OID, param OID, privateKey octets).
pub(crate) fn pkcs8(der: &[u8]) -> Result<Envelope<'_>> {
    let mut outer = Reader::new(der);
    let seq = outer.read(TAG_SEQUENCE)?;
    let mut r = Reader::new(seq);
    let _version = r.read(TAG_INTEGER)?;
    let alg = r.read(TAG_SEQUENCE)?;
    let (oid, param) = algorithm_identifier(alg)?;
    let key = r.read(TAG_OCTET_STRING)?;
    Ok((oid, param, key))
}

/// SubjectPublicKeyInfo -> (alg OID, param OID, key bits without the unused-bits byte).
pub(crate) fn spki(der: &[u8]) -> Result<Envelope<'_>> {
    let mut outer = Reader::new(der);
    let seq = outer.read(TAG_SEQUENCE)?;
    let mut r = Reader::new(seq);
    let alg = r.read(TAG_SEQUENCE)?;
    let (oid, param) = algorithm_identifier(alg)?;
    let bits = r.read(TAG_BIT_STRING)?;
    match bits.split_first() {
        Some((0, rest)) => Ok((oid, param, rest)),
        _ => Err(err("public key BIT STRING has unused bits")),
    }
}

/// SEC1 ECPrivateKey -> (private scalar, curve OID if present, public point if present).
pub(crate) fn sec1(der: &[u8]) -> Result<Sec1<'_>> {
    let mut outer = Reader::new(der);
    let seq = outer.read(TAG_SEQUENCE)?;
    let mut r = Reader::new(seq);
    let version = r.read(TAG_INTEGER)?;
    if version != [1] {
        return Err(err("SEC1 ECPrivateKey version is not 1"));
    }
    let d = r.read(TAG_OCTET_STRING)?;
    let mut curve = None;
    let mut public = None;
    while !r.is_empty() {
        let (tag, content) = r.read_any()?;
        match tag {
            0xa0 => curve = Some(Reader::new(content).read(TAG_OID)?),
            0xa1 => {
                let bits = Reader::new(content).read(TAG_BIT_STRING)?;
                public = bits.split_first().map(|(_, p)| p);
            }
            _ => {}
        }
    }
    Ok((d, curve, public))
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encode a TLV.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Encode an unsigned big-endian integer as a DER INTEGER.
pub(crate) fn uint(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|&&b| b == 0).count();
    let mut v = be[skip..].to_vec();
    if v.is_empty() || v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    tlv(TAG_INTEGER, &v)
}

/// PKCS#1 RSAPublicKey from (n, e).
pub(crate) fn rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut c = uint(n);
    c.extend(uint(e));
    tlv(TAG_SEQUENCE, &c)
}

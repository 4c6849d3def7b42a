//! The name a client certificate gives its holder: the subject's distinguished name in
//! RFC 2253's form, as Java's `X500Principal.getName()` writes it and Kafka's default
//! `ssl.principal.mapping.rules` keep it (`CN=alice,OU=eng,O=spool`: the last RDN first).

use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

/// The subject of the DER certificate `der` in RFC 2253's form; `None` if it does not parse.
pub fn subject_name(der: &[u8]) -> Option<String> {
    let (_, certificate) = X509Certificate::from_der(der).ok()?;
    let rdns: Vec<String> = certificate
        .subject()
        .iter_rdn()
        .map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+"))
        .collect();
    Some(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// `TYPE=value`, with RFC 2253's keywords where it has one, else the dotted OID.
fn attribute(attribute: &AttributeTypeAndValue) -> String {
    let oid = attribute.attr_type().to_id_string();
    let keyword = match oid.as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => oid.as_str(),
    };
    let value = attribute.as_str().map(escape).unwrap_or_else(|_| {
        // Not a string type: RFC 2253's `#` and the hex of the value's bytes.
        let bytes = attribute.attr_value().data;
        format!(
            "#{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    });
    format!("{keyword}={value}")
}

/// RFC 2253's escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (index, character) in value.chars().enumerate() {
        let special = matches!(character, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (index == 0 && matches!(character, '#' | ' '))
            || (index == last && character == ' ');
        if special {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn certificate(subject: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        for (kind, value) in subject {
            name.push(kind.clone(), *value);
        }
        params.distinguished_name = name;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_last_rdn_comes_first_as_java_writes_it() {
        let der = certificate(&[
            (DnType::CountryName, "DE"),
            (DnType::OrganizationName, "spool"),
            (DnType::OrganizationalUnitName, "eng"),
            (DnType::CommonName, "alice"),
        ]);
        assert_eq!(
            subject_name(&der).as_deref(),
            Some("CN=alice,OU=eng,O=spool,C=DE")
        );
    }

    #[test]
    fn special_characters_are_escaped() {
        let der = certificate(&[(DnType::CommonName, "Smith, J+r <x>")]);
        assert_eq!(
            subject_name(&der).as_deref(),
            Some("CN=Smith\\, J\\+r \\<x\\>")
        );
        assert_eq!(escape(" lead#"), "\\ lead#");
        assert_eq!(escape("#x "), "\\#x\\ ");
    }

    #[test]
    fn garbage_has_no_subject() {
        assert_eq!(subject_name(b"not a certificate"), None);
    }
}

//! Ids for mappings that name none (and for anything else that wants WireMock's UUID form).

/// A version-4 UUID in its usual text form, for mappings that name no id.
pub fn random_uuid() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    // Written into a fixed buffer, then one allocation: the journal makes one of these per
    // request, and pushing `char`s one by one cost more than drawing the random bytes.
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at] = HEX[usize::from(x >> 4)];
        text[at + 1] = HEX[usize::from(x & 0x0f)];
        at += 2;
    }
    // Every byte is ASCII, so this never answers the empty string.
    std::str::from_utf8(&text).map_or_else(|_| String::new(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_uuid_has_the_version_4_text_form_and_does_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = random_uuid();
            let groups: Vec<&str> = id.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
            assert!(
                id.bytes()
                    .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert!(groups[2].starts_with('4'), "version 4: {id}");
            assert!(
                matches!(&groups[3][..1], "8" | "9" | "a" | "b"),
                "RFC 4122 variant: {id}"
            );
            assert!(seen.insert(id));
        }
    }
}

//! Decoding of the Vietnamese TCVN 5712:1993 code page ("TCVN3", the ABC/.VnTime fonts) that old
//! DBF files from Vietnamese agencies still carry. GDAL/iconv do not know it under that name, so
//! the importer reads such text as raw bytes and decodes it here. Table generated from glibc's
//! TCVN5712-1 charmap (VN1, a superset of VN3); the output is NFC.

use unicode_normalization::UnicodeNormalization;

/// Unicode character of every byte.
const TABLE: [char; 256] = [
    '\u{0000}', '\u{00DA}', '\u{1EE4}', '\u{0003}', '\u{1EEA}', '\u{1EEC}', '\u{1EEE}', '\u{0007}',
    '\u{0008}', '\u{0009}', '\u{000A}', '\u{000B}', '\u{000C}', '\u{000D}', '\u{000E}', '\u{000F}',
    '\u{0010}', '\u{1EE8}', '\u{1EF0}', '\u{1EF2}', '\u{1EF6}', '\u{1EF8}', '\u{00DD}', '\u{1EF4}',
    '\u{0018}', '\u{0019}', '\u{001A}', '\u{001B}', '\u{001C}', '\u{001D}', '\u{001E}', '\u{001F}',
    '\u{0020}', '\u{0021}', '\u{0022}', '\u{0023}', '\u{0024}', '\u{0025}', '\u{0026}', '\u{0027}',
    '\u{0028}', '\u{0029}', '\u{002A}', '\u{002B}', '\u{002C}', '\u{002D}', '\u{002E}', '\u{002F}',
    '\u{0030}', '\u{0031}', '\u{0032}', '\u{0033}', '\u{0034}', '\u{0035}', '\u{0036}', '\u{0037}',
    '\u{0038}', '\u{0039}', '\u{003A}', '\u{003B}', '\u{003C}', '\u{003D}', '\u{003E}', '\u{003F}',
    '\u{0040}', '\u{0041}', '\u{0042}', '\u{0043}', '\u{0044}', '\u{0045}', '\u{0046}', '\u{0047}',
    '\u{0048}', '\u{0049}', '\u{004A}', '\u{004B}', '\u{004C}', '\u{004D}', '\u{004E}', '\u{004F}',
    '\u{0050}', '\u{0051}', '\u{0052}', '\u{0053}', '\u{0054}', '\u{0055}', '\u{0056}', '\u{0057}',
    '\u{0058}', '\u{0059}', '\u{005A}', '\u{005B}', '\u{005C}', '\u{005D}', '\u{005E}', '\u{005F}',
    '\u{0060}', '\u{0061}', '\u{0062}', '\u{0063}', '\u{0064}', '\u{0065}', '\u{0066}', '\u{0067}',
    '\u{0068}', '\u{0069}', '\u{006A}', '\u{006B}', '\u{006C}', '\u{006D}', '\u{006E}', '\u{006F}',
    '\u{0070}', '\u{0071}', '\u{0072}', '\u{0073}', '\u{0074}', '\u{0075}', '\u{0076}', '\u{0077}',
    '\u{0078}', '\u{0079}', '\u{007A}', '\u{007B}', '\u{007C}', '\u{007D}', '\u{007E}', '\u{007F}',
    '\u{00C0}', '\u{1EA2}', '\u{00C3}', '\u{00C1}', '\u{1EA0}', '\u{1EB6}', '\u{1EAC}', '\u{00C8}',
    '\u{1EBA}', '\u{1EBC}', '\u{00C9}', '\u{1EB8}', '\u{1EC6}', '\u{00CC}', '\u{1EC8}', '\u{0128}',
    '\u{00CD}', '\u{1ECA}', '\u{00D2}', '\u{1ECE}', '\u{00D5}', '\u{00D3}', '\u{1ECC}', '\u{1ED8}',
    '\u{1EDC}', '\u{1EDE}', '\u{1EE0}', '\u{1EDA}', '\u{1EE2}', '\u{00D9}', '\u{1EE6}', '\u{0168}',
    '\u{00A0}', '\u{0102}', '\u{00C2}', '\u{00CA}', '\u{00D4}', '\u{01A0}', '\u{01AF}', '\u{0110}',
    '\u{0103}', '\u{00E2}', '\u{00EA}', '\u{00F4}', '\u{01A1}', '\u{01B0}', '\u{0111}', '\u{1EB0}',
    '\u{0300}', '\u{0309}', '\u{0303}', '\u{0301}', '\u{0323}', '\u{00E0}', '\u{1EA3}', '\u{00E3}',
    '\u{00E1}', '\u{1EA1}', '\u{1EB2}', '\u{1EB1}', '\u{1EB3}', '\u{1EB5}', '\u{1EAF}', '\u{1EB4}',
    '\u{1EAE}', '\u{1EA6}', '\u{1EA8}', '\u{1EAA}', '\u{1EA4}', '\u{1EC0}', '\u{1EB7}', '\u{1EA7}',
    '\u{1EA9}', '\u{1EAB}', '\u{1EA5}', '\u{1EAD}', '\u{00E8}', '\u{1EC2}', '\u{1EBB}', '\u{1EBD}',
    '\u{00E9}', '\u{1EB9}', '\u{1EC1}', '\u{1EC3}', '\u{1EC5}', '\u{1EBF}', '\u{1EC7}', '\u{00EC}',
    '\u{1EC9}', '\u{1EC4}', '\u{1EBE}', '\u{1ED2}', '\u{0129}', '\u{00ED}', '\u{1ECB}', '\u{00F2}',
    '\u{1ED4}', '\u{1ECF}', '\u{00F5}', '\u{00F3}', '\u{1ECD}', '\u{1ED3}', '\u{1ED5}', '\u{1ED7}',
    '\u{1ED1}', '\u{1ED9}', '\u{1EDD}', '\u{1EDF}', '\u{1EE1}', '\u{1EDB}', '\u{1EE3}', '\u{00F9}',
    '\u{1ED6}', '\u{1EE7}', '\u{0169}', '\u{00FA}', '\u{1EE5}', '\u{1EEB}', '\u{1EED}', '\u{1EEF}',
    '\u{1EE9}', '\u{1EF1}', '\u{1EF3}', '\u{1EF7}', '\u{1EF9}', '\u{00FD}', '\u{1EF5}', '\u{1ED0}',
];

/// Decodes TCVN3 bytes into an NFC string.
pub fn decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| TABLE[usize::from(b)]).nfc().collect()
}

/// Encodes an NFC string as TCVN3 bytes; `None` if a character has no TCVN3 byte. What old
/// DBF files hold, and what a TCVN3 address looks like when read as Latin-1.
pub fn encode(s: &str) -> Option<Vec<u8>> {
    s.nfc()
        .map(|c| TABLE.iter().position(|&t| t == c).map(|i| i as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_vietnamese_place_names() {
        // "Bến Tre", "Chợ Lách", "Mỏ Cày", "Thạnh Phú" as TCVN3 bytes
        let encode = |s: &str| -> Vec<u8> { encode(s).expect("chars in the table") };
        for name in [
            "Bến Tre",
            "Chợ Lách",
            "Mỏ Cày Nam",
            "Thạnh Phú",
            "Đồng Khởi",
        ] {
            let bytes = encode(name);
            assert!(
                bytes.iter().any(|&b| b >= 0x80),
                "{name} has non-ASCII bytes"
            );
            assert_eq!(decode(&bytes), name);
        }
        assert_eq!(decode(&[0xD5]), "ế");
        assert_eq!(decode(b"abc"), "abc");
    }
}

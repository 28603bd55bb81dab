//! Fuzz target: any text as an `Authorization` header, through the OPEN-BODY-SIG and
//! OPEN-ACCESS-TOKEN parsers. Must never panic, and an accepted OPEN-BODY-SIG header
//! renders to one that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umsgate::chinaums::sign::{parse_access_token_header, BodySig};

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    if let Ok(sig) = BodySig::parse(&header) {
        assert_eq!(BodySig::parse(&sig.header()), Ok(sig));
    }
    let _ = parse_access_token_header(&header);
});

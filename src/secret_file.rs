//! The one rule for files holding a secret (a signing key, the module cache's
//! HMAC key, an admin token): group and others must have no access.

use std::os::unix::fs::PermissionsExt;

/// The permission bits of a file whose group or others have any access;
/// `None` when only its owner may use it.
pub fn exposed_mode(meta: &std::fs::Metadata) -> Option<u32> {
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_access_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s").unwrap();
        for (mode, exposed) in [(0o600, None), (0o400, None), (0o640, Some(0o640)), (0o604, Some(0o604))] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(exposed_mode(&std::fs::metadata(&path).unwrap()), exposed, "{mode:o}");
        }
    }
}

//! Interface names: what Linux accepts, and the name `attach` gives the
//! bridge side of its veth when the script does not name it. That name
//! is a documented rule, never shortened or changed: a bridge-family nft
//! rule or an `--physdev-in` match names it, so a name that does not fit
//! or is taken is an error the script sees, not a silent rename.

use super::MAX_IFNAME;

/// `v-<node>` for the node's eth0, `v-<node>-<N>` for its ethN.
pub fn bridge_port_name(node: &str, eth: u32) -> String {
    match eth {
        0 => format!("v-{node}"),
        n => format!("v-{node}-{n}"),
    }
}

pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an interface name cannot be empty".into());
    }
    if name.len() > MAX_IFNAME {
        return Err(format!(
            "interface name '{name}' is {} bytes long; Linux allows at most {MAX_IFNAME}",
            name.len()
        ));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(format!(
            "interface name '{name}' is not allowed: no '/', ':' or spaces, and not '.' or '..'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names_follow_the_rule_and_are_never_shortened() {
        assert_eq!(bridge_port_name("bird", 0), "v-bird");
        assert_eq!(bridge_port_name("bird", 1), "v-bird-1");
        // The example: 16 bytes, which Linux refuses, so attach
        // reports it instead of naming the port `v-frontend-web-`.
        let long = bridge_port_name("frontend-web-1", 0);
        assert_eq!(long, "v-frontend-web-1");
        assert!(check_ifname(&long).unwrap_err().contains("16 bytes"));
    }
}

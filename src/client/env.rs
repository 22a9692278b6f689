//! Credentials and a client builder from the environment: the variables the `aily`
//! CLI reads, for every service that would otherwise rewrite this.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `FEISHU_TENANT_ACCESS_TOKEN` | a fixed tenant token ([`Credentials::tenant_token`]) |
//! | `FEISHU_USER_ACCESS_TOKEN` | a fixed user token ([`Credentials::user_token`]) |
//! | `FEISHU_APP_ID` + `FEISHU_APP_SECRET` | app credentials ([`Credentials::app`]), both or neither |
//! | `FEISHU_BASE_URL` | the API host ([`ClientBuilder::base_url`]); read by [`ClientBuilder::from_env`] only |
//! | `AILY_REDIS_URL` | fleet mode through this Redis (feature `redis`; [`ClientBuilder::redis_config`]); read by [`ClientBuilder::from_env`] only |
//! | `AILY_REDIS_BUDGET_MS` | with `AILY_REDIS_URL`: the budget of one Redis command, in ms ([`RedisConfig::budget`](crate::fleet::store::redis::RedisConfig::budget)) |
//! | `AILY_REDIS_CONNECT_BUDGET_MS` | with `AILY_REDIS_URL`: the budget of connecting and the first commands, in ms ([`RedisConfig::connect_budget`](crate::fleet::store::redis::RedisConfig::connect_budget)) |
//!
//! An empty variable counts as unset. Exactly one kind of credentials must be set.

use crate::auth::Credentials;
use crate::client::{Client, ClientBuilder};
use crate::error::{Error, ErrorKind};

const TENANT_TOKEN_VAR: &str = "FEISHU_TENANT_ACCESS_TOKEN";
const USER_TOKEN_VAR: &str = "FEISHU_USER_ACCESS_TOKEN";
const APP_ID_VAR: &str = "FEISHU_APP_ID";
const APP_SECRET_VAR: &str = "FEISHU_APP_SECRET";
const BASE_URL_VAR: &str = "FEISHU_BASE_URL";

fn config(message: String) -> Error {
    Error::new(ErrorKind::Config, message)
}

/// Reads `name` from the process environment: unset and empty are `None`; a value that
/// is not UTF-8 is an error naming the variable (never showing the value).
fn process_env(name: &str) -> Result<Option<String>, Error> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(config(format!("{name} is set but is not valid UTF-8")))
        }
    }
}

/// The credentials `lookup` describes; `lookup` returns `Ok(None)` for an unset variable.
fn credentials_from(
    mut lookup: impl FnMut(&str) -> Result<Option<String>, Error>,
) -> Result<Credentials, Error> {
    let mut var = |name: &str| -> Result<Option<String>, Error> {
        Ok(lookup(name)?.filter(|value| !value.is_empty()))
    };
    let tenant = var(TENANT_TOKEN_VAR)?;
    let user = var(USER_TOKEN_VAR)?;
    let app_id = var(APP_ID_VAR)?;
    let app_secret = var(APP_SECRET_VAR)?;
    let app = match (app_id, app_secret) {
        (Some(id), Some(secret)) => Some(Credentials::app(id, secret)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(config(format!(
                "{APP_ID_VAR} is set but {APP_SECRET_VAR} is not: set both or neither"
            )));
        }
        (None, Some(_)) => {
            return Err(config(format!(
                "{APP_SECRET_VAR} is set but {APP_ID_VAR} is not: set both or neither"
            )));
        }
    };
    let mut found: Vec<(&str, Credentials)> = Vec::with_capacity(3);
    if let Some(token) = tenant {
        found.push((TENANT_TOKEN_VAR, Credentials::tenant_token(token)));
    }
    if let Some(token) = user {
        found.push((USER_TOKEN_VAR, Credentials::user_token(token)));
    }
    if let Some(app) = app {
        found.push((APP_ID_VAR, app));
    }
    if found.len() > 1 {
        let names: Vec<&str> = found.iter().map(|(name, _)| *name).collect();
        return Err(config(format!(
            "more than one kind of credentials is set ({}): set only one",
            names.join(", ")
        )));
    }
    found
        .pop()
        .map(|(_, credentials)| credentials)
        .ok_or_else(|| {
            config(format!(
                "no credentials: set {TENANT_TOKEN_VAR}, or {USER_TOKEN_VAR}, \
             or {APP_ID_VAR} and {APP_SECRET_VAR}"
            ))
        })
}

/// A builder with the credentials and the base URL `lookup` describes.
fn builder_from(
    mut lookup: impl FnMut(&str) -> Result<Option<String>, Error>,
) -> Result<ClientBuilder, Error> {
    let credentials = credentials_from(&mut lookup)?;
    let builder = Client::builder().credentials(credentials);
    let builder = match lookup(BASE_URL_VAR)?.filter(|url| !url.is_empty()) {
        Some(url) => builder.base_url(url),
        None => builder,
    };
    fleet_from(lookup, builder)
}

// --- Fleet mode from the environment (engineer FLEET) ---

const REDIS_URL_VAR: &str = "AILY_REDIS_URL";
const REDIS_BUDGET_VAR: &str = "AILY_REDIS_BUDGET_MS";
const REDIS_CONNECT_BUDGET_VAR: &str = "AILY_REDIS_CONNECT_BUDGET_MS";
/// The longest budget a variable may set (a typo of a few zeros is refused).
const MAX_REDIS_BUDGET_MS: u64 = 60_000;

/// `builder` in fleet mode through `AILY_REDIS_URL` when it is set (and not empty),
/// with the budgets of `AILY_REDIS_BUDGET_MS` and `AILY_REDIS_CONNECT_BUDGET_MS`.
/// A budget that is not a whole number of milliseconds from 1 to 60 000 is an error
/// naming the variable; so is `AILY_REDIS_URL` in a build without feature `redis`.
fn fleet_from(
    mut lookup: impl FnMut(&str) -> Result<Option<String>, Error>,
    builder: ClientBuilder,
) -> Result<ClientBuilder, Error> {
    let Some(url) = lookup(REDIS_URL_VAR)?.filter(|v| !v.is_empty()) else {
        return Ok(builder);
    };
    let mut budget = |name: &str| -> Result<Option<std::time::Duration>, Error> {
        let Some(value) = lookup(name)?.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match value.trim().parse::<u64>() {
            Ok(ms) if (1..=MAX_REDIS_BUDGET_MS).contains(&ms) => {
                Ok(Some(std::time::Duration::from_millis(ms)))
            }
            _ => Err(config(format!(
                "{name} must be a number of milliseconds from 1 to {MAX_REDIS_BUDGET_MS}"
            ))),
        }
    };
    let steady = budget(REDIS_BUDGET_VAR)?;
    let connect = budget(REDIS_CONNECT_BUDGET_VAR)?;
    #[cfg(feature = "redis")]
    {
        let mut config = crate::fleet::store::redis::RedisConfig::new(url);
        if let Some(b) = steady {
            config = config.budget(b);
        }
        if let Some(b) = connect {
            config = config.connect_budget(b);
        }
        Ok(builder.redis_config(config))
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (url, steady, connect, builder);
        Err(config(format!(
            "{REDIS_URL_VAR} is set, but this build has no feature `redis`: \
             build with it, or unset {REDIS_URL_VAR}"
        )))
    }
}

impl Credentials {
    /// The credentials in the process environment, as the `aily` CLI reads them:
    /// `FEISHU_TENANT_ACCESS_TOKEN`, or `FEISHU_USER_ACCESS_TOKEN`, or `FEISHU_APP_ID`
    /// together with `FEISHU_APP_SECRET`. An empty variable counts as unset.
    ///
    /// Fails with an [`ErrorKind::Config`] error, whose message names the variables
    /// (never their values), when none is set, when only one of the app pair is set,
    /// when more than one kind is set, or when a value is not UTF-8.
    ///
    /// ```no_run
    /// use aily_client::{Client, Credentials};
    ///
    /// let client = Client::builder().credentials(Credentials::from_env()?).build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn from_env() -> Result<Credentials, Error> {
        credentials_from(process_env)
    }

    /// The same as [`Credentials::from_env`], but each variable is read with `lookup`
    /// (`None`: unset) instead of from the process environment: for a config map, a
    /// secrets store, or a test.
    ///
    /// ```
    /// use aily_client::{Credentials, ErrorKind};
    ///
    /// let vars = [("FEISHU_APP_ID", "cli_a1b2c3"), ("FEISHU_APP_SECRET", "s3cret")];
    /// let lookup = |name: &str| {
    ///     vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    /// };
    /// let credentials = Credentials::from_lookup(lookup)?;
    /// assert!(format!("{credentials:?}").contains("cli_a1b2c3"));
    /// assert!(!format!("{credentials:?}").contains("s3cret"));
    ///
    /// let err = Credentials::from_lookup(|_| None).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// assert!(err.to_string().contains("FEISHU_TENANT_ACCESS_TOKEN"));
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn from_lookup(
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<Credentials, Error> {
        credentials_from(|name| Ok(lookup(name)))
    }
}

impl ClientBuilder {
    /// A builder with [`Credentials::from_env`] and, when `FEISHU_BASE_URL` is set (and
    /// not empty), that base URL; when `AILY_REDIS_URL` is set, fleet mode through
    /// that Redis (feature `redis`; `AILY_REDIS_BUDGET_MS` and
    /// `AILY_REDIS_CONNECT_BUDGET_MS` set its budgets, whole milliseconds from 1 to
    /// 60 000; `AILY_REDIS_URL` without feature `redis` is an error). Every other
    /// setting is the default and can still be changed. The URLs are checked by
    /// [`build`](ClientBuilder::build), like any other.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let client = aily_client::ClientBuilder::from_env()?
    ///     .overall_timeout(Duration::from_secs(10))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn from_env() -> Result<ClientBuilder, Error> {
        builder_from(process_env)
    }

    /// The same as [`ClientBuilder::from_env`], with each variable read by `lookup`
    /// (`None`: unset) instead of from the process environment.
    ///
    /// ```
    /// let vars = [
    ///     ("FEISHU_TENANT_ACCESS_TOKEN", "t-abc"),
    ///     ("FEISHU_BASE_URL", "http://127.0.0.1:8080"),
    /// ];
    /// let lookup = |name: &str| {
    ///     vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    /// };
    /// let client = aily_client::ClientBuilder::from_lookup(lookup)?.build()?;
    /// assert_eq!(client.base_url().to_string(), "http://127.0.0.1:8080");
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn from_lookup(
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<ClientBuilder, Error> {
        builder_from(|name| Ok(lookup(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lookup over a fixed list of variables.
    fn vars<'a>(list: &'a [(&'a str, &'a str)]) -> impl FnMut(&str) -> Option<String> + 'a {
        move |name| {
            list.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn debug(credentials: &Credentials) -> String {
        format!("{credentials:?}")
    }

    #[test]
    fn a_tenant_token() {
        let c = Credentials::from_lookup(vars(&[(TENANT_TOKEN_VAR, "t-secret-1")])).unwrap();
        let d = debug(&c);
        assert!(d.starts_with("Credentials::Token"), "{d}");
        assert!(d.contains("Tenant"), "{d}");
        assert!(!d.contains("t-secret-1"), "{d}");
    }

    #[test]
    fn a_user_token() {
        let c = Credentials::from_lookup(vars(&[(USER_TOKEN_VAR, "u-secret-2")])).unwrap();
        let d = debug(&c);
        assert!(d.starts_with("Credentials::Token"), "{d}");
        assert!(d.contains("User"), "{d}");
        assert!(!d.contains("u-secret-2"), "{d}");
    }

    #[test]
    fn app_credentials() {
        let c = Credentials::from_lookup(vars(&[
            (APP_ID_VAR, "cli_env_app"),
            (APP_SECRET_VAR, "app-secret-3"),
        ]))
        .unwrap();
        let d = debug(&c);
        assert!(d.starts_with("Credentials::App"), "{d}");
        assert!(d.contains("cli_env_app"), "{d}");
        assert!(!d.contains("app-secret-3"), "{d}");
    }

    #[test]
    fn none_set_names_every_variable() {
        for list in [&[][..], &[(TENANT_TOKEN_VAR, ""), (APP_ID_VAR, "")][..]] {
            let err = Credentials::from_lookup(vars(list)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            let text = err.to_string();
            for name in [TENANT_TOKEN_VAR, USER_TOKEN_VAR, APP_ID_VAR, APP_SECRET_VAR] {
                assert!(text.contains(name), "{text}");
            }
        }
    }

    #[test]
    fn half_an_app_pair_is_refused() {
        let err = Credentials::from_lookup(vars(&[(APP_ID_VAR, "cli_x")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains(APP_SECRET_VAR), "{err}");
        let err = Credentials::from_lookup(vars(&[(APP_SECRET_VAR, "lonely-secret")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains(APP_ID_VAR), "{err}");
        assert!(!err.to_string().contains("lonely-secret"), "{err}");
    }

    #[test]
    fn two_kinds_are_refused_without_echoing_a_secret() {
        let cases: [&[(&str, &str)]; 4] = [
            &[(TENANT_TOKEN_VAR, "t-one"), (USER_TOKEN_VAR, "u-two")],
            &[
                (TENANT_TOKEN_VAR, "t-one"),
                (APP_ID_VAR, "cli_a"),
                (APP_SECRET_VAR, "s-three"),
            ],
            &[
                (USER_TOKEN_VAR, "u-two"),
                (APP_ID_VAR, "cli_a"),
                (APP_SECRET_VAR, "s-three"),
            ],
            &[
                (TENANT_TOKEN_VAR, "t-one"),
                (USER_TOKEN_VAR, "u-two"),
                (APP_ID_VAR, "cli_a"),
                (APP_SECRET_VAR, "s-three"),
            ],
        ];
        for list in cases {
            let err = Credentials::from_lookup(vars(list)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{list:?}");
            let text = err.to_string();
            assert!(text.contains("set only one"), "{text}");
            for (name, value) in list {
                if *name != APP_SECRET_VAR {
                    // Every kind set is named (the app pair by its id variable).
                    assert!(text.contains(name), "{text}");
                }
                assert!(!text.contains(value), "{text} shows {value}");
            }
        }
    }

    #[test]
    fn the_builder_reads_the_base_url() {
        let client = ClientBuilder::from_lookup(vars(&[
            (TENANT_TOKEN_VAR, "t-abc"),
            (BASE_URL_VAR, "http://127.0.0.1:9"),
        ]))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(client.base_url().to_string(), "http://127.0.0.1:9");

        // Unset or empty: the default host.
        for list in [
            &[(TENANT_TOKEN_VAR, "t-abc")][..],
            &[(TENANT_TOKEN_VAR, "t-abc"), (BASE_URL_VAR, "")][..],
        ] {
            let client = ClientBuilder::from_lookup(vars(list))
                .unwrap()
                .build()
                .unwrap();
            assert_eq!(client.base_url().to_string(), "https://open.feishu.cn");
        }

        // The URL is checked at build, like any other: plain http to a remote host.
        let err = ClientBuilder::from_lookup(vars(&[
            (TENANT_TOKEN_VAR, "t-abc"),
            (BASE_URL_VAR, "http://192.0.2.1"),
        ]))
        .unwrap()
        .build()
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);

        // No credentials: the builder is not made.
        let err =
            ClientBuilder::from_lookup(vars(&[(BASE_URL_VAR, "http://127.0.0.1:9")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[test]
    fn redis_budgets_out_of_range_are_refused_naming_the_variable() {
        for (name, value) in [
            (REDIS_BUDGET_VAR, "fast"),
            (REDIS_BUDGET_VAR, "0"),
            (REDIS_CONNECT_BUDGET_VAR, "600000"),
            (REDIS_CONNECT_BUDGET_VAR, "-1"),
        ] {
            let err = ClientBuilder::from_lookup(vars(&[
                (TENANT_TOKEN_VAR, "t-abc"),
                (REDIS_URL_VAR, "redis://127.0.0.1:9"),
                (name, value),
            ]))
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_variables_make_a_fleet_mode_client() {
        let builder = ClientBuilder::from_lookup(vars(&[
            (APP_ID_VAR, "cli_a"),
            (APP_SECRET_VAR, "s-three"),
            (REDIS_URL_VAR, "redis://:pw-in-url@127.0.0.1:9/0"),
            (REDIS_BUDGET_VAR, "70"),
            (REDIS_CONNECT_BUDGET_VAR, "1500"),
        ]))
        .unwrap();
        let d = format!("{:?}", builder.fleet);
        builder.build().expect("builds without connecting");
        assert!(d.contains("RedisConfig"), "{d}");
        assert!(d.contains("redis://127.0.0.1:9"), "{d}");
        assert!(
            d.contains("budget: 70ms") && d.contains("connect_budget: 1.5s"),
            "{d}"
        );
        assert!(!d.contains("pw-in-url") && !d.contains("s-three"), "{d}");
        // Plain redis:// off loopback is refused from the environment too.
        let err = ClientBuilder::from_lookup(vars(&[
            (TENANT_TOKEN_VAR, "t-abc"),
            (REDIS_URL_VAR, "redis://192.0.2.1:6379"),
        ]))
        .unwrap()
        .build()
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[test]
    fn lookup_errors_pass_through() {
        let err = credentials_from(|name| {
            if name == USER_TOKEN_VAR {
                Err(config(format!("{name} is set but is not valid UTF-8")))
            } else {
                Ok(None)
            }
        })
        .unwrap_err();
        assert!(err.to_string().contains(USER_TOKEN_VAR), "{err}");
    }
}

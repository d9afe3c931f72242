//! What a run does once its configuration is made: the server, or one sub-command on a
//! stopped server's data directory (`commands` does the work; this reads the command line's
//! inputs and writes its outputs).

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;

use tokenauth_core::private_fs::PrivateFile;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{NewUser, TokenAuth};

use super::args::{
    AuditCommand, Cli, Command, ExportFormat, ScopeArg, SettingsCommand, TokenCommand, UserCommand,
};
use super::commands::{self, ExportFilter};
use super::error::CliError;
use super::process::{say, say_out};
use super::serve::serve;
use crate::config::ServerConfig;
use crate::config::users_file;
use crate::operations::audit_file::AuditFile;
use crate::routes::answers::UserView;
use crate::server;

/// Runs what the command line asks for: the server, or one sub-command on the data directory.
pub(super) fn dispatch(
    cli: Cli,
    config: ServerConfig,
    audit_file: Option<&AuditFile>,
) -> Result<(), CliError> {
    let users = cli.serve.users.as_ref();
    match cli.command {
        None | Some(Command::Serve) => {
            let opened = open(&config, users, audit_file)?;
            serve(config, opened, users, audit_file, cli.serve.ephemeral)
        }
        Some(Command::User(c)) => {
            let (auth, _) = open(&config, users, audit_file)?;
            match c {
                UserCommand::Create {
                    name,
                    groups,
                    display_name,
                    email,
                } => {
                    let password = read_stdin_secret("password")?;
                    let user = NewUser {
                        name: name.clone(),
                        display_name,
                        email,
                        groups,
                        password: Some(password),
                        active: Some(true),
                    };
                    commands::create_user(&auth, user)?;
                    eprintln!("created user {name}");
                }
                UserCommand::List => {
                    let users: Vec<_> = auth.users()?.into_iter().map(UserView::from).collect();
                    println!("{}", serde_json::to_string_pretty(&users)?);
                }
                UserCommand::Passwd { name } => {
                    commands::set_password(&auth, &name, read_stdin_secret("password")?)?;
                    eprintln!("changed the password of {name}");
                }
                UserCommand::ResetFailedLogins { name } => {
                    commands::reset_failed_logins(&auth, &name)?;
                    eprintln!("reset the failed-login count of {name}");
                }
            }
            Ok(())
        }
        Some(Command::Token(TokenCommand::Mint)) => {
            let token = tokenauth_core::token_format::generate()
                .map_err(tokenauth_core::CoreError::from)?;
            // Only the secret on standard output, so scripts can capture it.
            say_out!("{}", token.text);
            say!(
                "minted token secret with id {} (not stored anywhere; put it in a users file)",
                token.id
            );
            Ok(())
        }
        Some(Command::Token(c)) => {
            let (auth, _) = open(&config, users, audit_file)?;
            match c {
                // Answered above, without a database.
                TokenCommand::Mint => {}
                TokenCommand::Create {
                    user,
                    description,
                    scope,
                    days,
                    never,
                } => {
                    let scope = match scope {
                        ScopeArg::ReadOnly => Scope::ReadOnly,
                        ScopeArg::ReadWrite => Scope::ReadWrite,
                    };
                    let view =
                        commands::create_token(&auth, &user, description, scope, days, never)?;
                    eprintln!(
                        "created token {} for {} ({}, expires {})",
                        view.id,
                        view.user,
                        view.scope,
                        view.expires_at.as_deref().unwrap_or("never")
                    );
                    // Only the secret on standard output, so scripts can capture it.
                    println!("{}", view.token.unwrap_or_default());
                }
                TokenCommand::List { user } => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&commands::list_tokens(&auth, user)?)?
                    );
                }
                TokenCommand::Revoke { id } => {
                    let v = commands::revoke_token(&auth, &id)?;
                    eprintln!("revoked token {} of {}", v.id, v.user);
                }
                TokenCommand::RevokeAll { user } => {
                    let n = commands::revoke_all(&auth, &user)?;
                    eprintln!("revoked {n} tokens of {user}");
                }
            }
            Ok(())
        }
        Some(Command::Settings(c)) => {
            let (auth, _) = open(&config, users, audit_file)?;
            match c {
                SettingsCommand::Show => println!("{}", commands::show_settings(&auth)?),
                SettingsCommand::Set { json } => {
                    let text = match json.strip_prefix('@') {
                        Some(file) => std::fs::read_to_string(file)
                            .map_err(CliError::io(format!("reading {file}")))?,
                        None => json,
                    };
                    println!("{}", commands::set_settings(&auth, &text)?);
                }
            }
            Ok(())
        }
        Some(Command::Audit(AuditCommand::Export {
            format,
            output,
            user,
            action,
            from,
            to,
        })) => {
            let (auth, _) = open(&config, users, audit_file)?;
            let filter = ExportFilter {
                user,
                action,
                from,
                to,
            };
            let csv = format == ExportFormat::Csv;
            let n = match output {
                Some(path) => {
                    // The audit log names users, addresses and tokens: for its owner only,
                    // written beside the name and renamed when complete.
                    let mut out = PrivateFile::create(&path)
                        .map_err(CliError::io(format!("creating {}", path.display())))?;
                    let written = {
                        let mut w = std::io::BufWriter::new(out.file());
                        let n = commands::export_audit(&auth, csv, filter, &mut w);
                        n.and_then(|n| w.flush().map(|()| n).map_err(Into::into))
                    };
                    match written {
                        Ok(n) => {
                            out.commit()
                                .map_err(CliError::io(format!("writing {}", path.display())))?;
                            n
                        }
                        Err(e) => {
                            out.abandon();
                            return Err(e.into());
                        }
                    }
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::new(stdout.lock());
                    commands::export_audit(&auth, csv, filter, &mut w)?
                }
            };
            eprintln!("exported {n} events");
            Ok(())
        }
    }
}

fn seed(path: Option<&PathBuf>) -> Result<users_file::Seed, CliError> {
    Ok(match path {
        Some(p) => users_file::load(p)?,
        None => users_file::Seed::demo(),
    })
}

/// The data directory's rules and store, seeded when new (`server::open`); whether it was
/// seeded now.
fn open(
    config: &ServerConfig,
    users: Option<&PathBuf>,
    audit_file: Option<&AuditFile>,
) -> Result<(std::sync::Arc<TokenAuth>, bool), CliError> {
    let (auth, seeded) =
        server::open(config, seed(users)?, audit_file).map_err(|source| CliError::Open {
            dir: config.data_dir.display().to_string(),
            with: users
                .map(|u| format!(" with the users of {}", u.display()))
                .unwrap_or_default(),
            source,
        })?;
    Ok((auth, seeded))
}

/// A secret from standard input: typed at a prompt without echo when it is a terminal, else
/// read whole (a pipe or a file). Never from the command line, where other users can read it.
fn read_stdin_secret(what: &str) -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        let s = rpassword::prompt_password(format!("{what}: ")).map_err(CliError::io(format!(
            "reading the {what} from the terminal"
        )))?;
        if s.is_empty() {
            return Err(CliError::Usage(format!("no {what} given")));
        }
        return Ok(s);
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(CliError::io(format!(
            "reading the {what} from standard input"
        )))?;
    let s = s.trim_end_matches(['\n', '\r']).to_owned();
    if s.is_empty() {
        return Err(CliError::Usage(format!("no {what} on standard input")));
    }
    Ok(s)
}

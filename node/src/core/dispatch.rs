//! Answering the requests of [`crate::Node`] handles, one at a time, on the core task.

use super::*;

impl Core {
    pub(super) async fn on_request(&mut self, request: Request) {
        match request {
            Request::Group(request) => self.on_group_request(request).await,
            Request::Send {
                peer,
                compose,
                reply,
            } => {
                self.send_group(vec![send::SendRequest {
                    peer,
                    compose,
                    reply,
                }])
                .await;
            }
            Request::Search {
                query,
                chat,
                limit,
                after,
                reply,
            } => {
                self.search(search::Waiting {
                    query,
                    chat,
                    limit,
                    after,
                    reply,
                })
                .await;
            }
            Request::SetChat {
                peer,
                setting,
                reply,
            } => {
                let _ = reply.send(self.set_chat(peer, setting).await);
            }
            Request::DeleteForMe { chat, id, reply } => {
                let _ = reply.send(self.delete_for_me(chat, id).await);
            }
            Request::EditHistory { chat, id, reply } => {
                let _ = reply.send(self.edit_history(chat, id).await);
            }
            Request::AddContact { name, user, reply } => {
                let result = self.add_contact(name, user).await;
                let added = result.is_ok();
                let _ = reply.send(result);
                if added && let Err(e) = self.share_profile_with(user).await {
                    warn!("cannot send our profile to a new contact: {e}");
                }
            }
            Request::RemoveContact { user, reply } => {
                let conv = self.conv(&user);
                let mut batch = Batch::new();
                batch.delete::<Contacts>(&conv);
                self.standing.remove(&user);
                let _ = reply.send(self.commit(Pending::new(batch, vec![])).await.map(|_| ()));
            }
            Request::VerifyContact {
                user,
                verified,
                reply,
            } => {
                let _ = reply.send(self.verify_contact(user, verified).await);
            }
            Request::Contacts { reply } => {
                let _ = reply.send(self.contacts().await);
            }
            Request::SetIdentityPolicy {
                peer,
                policy,
                reply,
            } => {
                let _ = reply.send(self.set_identity_policy(peer, policy).await);
            }
            Request::IdentityState { peer, reply } => {
                let _ = reply.send(Ok(self.identity_state(&peer)));
            }
            Request::RotateIdentityKey { reply } => {
                let _ = reply.send(self.rotate_identity_key().await);
            }
            Request::SetProfile {
                name,
                status,
                reply,
            } => {
                let _ = reply.send(self.set_profile(name, status).await);
            }
            Request::Typing {
                peer,
                active,
                reply,
            } => {
                let _ = reply.send(self.typing(peer, active).await);
            }
            Request::GetSharing { reply } => {
                let _ = reply.send(Ok(self.signals.sharing));
            }
            Request::SetSharing { sharing, reply } => {
                let _ = reply.send(self.set_sharing(sharing).await);
            }
            Request::OwnProfile { reply } => {
                let result = self.own_profile().await.map(|row| {
                    row.map(|row| crate::view::Profile {
                        name: row.name,
                        status: row.status,
                    })
                });
                let _ = reply.send(result);
            }
            Request::Chats { reply } => {
                let _ = reply.send(self.chats().await);
            }
            Request::History {
                peer,
                limit,
                before,
                reply,
            } => {
                let _ = reply.send(self.history(peer, limit, before).await);
            }
            Request::MarkRead { peer, reply } => {
                let result = self.mark_read(peer).await;
                let _ = reply.send(result);
                self.dispatch_due().await;
            }
            Request::Status { reply } => {
                let _ = reply.send(self.status().await);
            }
            Request::Requests { reply } => {
                let _ = reply.send(Ok(self.requests()));
            }
            Request::Accept { peer, reply } => {
                let result = self.accept_request(peer).await;
                let accepted = result.is_ok();
                let _ = reply.send(result);
                if accepted && let Err(e) = self.share_profile_with(peer).await {
                    warn!("cannot send our profile to an accepted sender: {e}");
                }
            }
            Request::DeleteChat { peer, reply } => {
                let _ = reply.send(self.delete_chat(peer).await);
            }
            Request::Block {
                peer,
                blocked,
                reply,
            } => {
                let result = if blocked {
                    self.block(peer).await
                } else {
                    self.unblock(peer).await
                };
                if !blocked && result.is_ok() {
                    self.net.forget_refused();
                }
                let _ = reply.send(result);
            }
            Request::Blocked { reply } => {
                let _ = reply.send(self.blocked().await);
            }
            Request::Transfer(report) => self.on_transfer(report).await,
            Request::Grant { root, reply } => {
                let _ = reply.send(self.grant(root).await);
            }
            Request::RelayTarget { peer, reply } => {
                let _ = reply.send(self.records.known_relays(&peer));
            }
            Request::FetchAttachment { chat, id, reply } => {
                let _ = reply.send(self.fetch_attachment(chat, id).await);
            }
            Request::HeldFile { chat, id, reply } => {
                let _ = reply.send(self.held_file(chat, id).await);
            }
            Request::Attachments { chat, reply } => {
                let _ = reply.send(self.attachments(chat).await);
            }
            Request::OneTimePrekeys { count, reply } => {
                let _ = reply.send(self.one_time_prekeys(count).await);
            }
            #[cfg(any(test, feature = "test-utils"))]
            Request::SendBody { peer, body, reply } => {
                let mut pending = Pending::new(Batch::new(), Vec::new());
                let mut result = self.enqueue(&mut pending, peer, &body, false).await;
                if result.is_ok() {
                    result = self.commit(pending).await.map(|_| ());
                }
                let _ = reply.send(result);
                self.dispatch_due().await;
            }
        }
    }
}

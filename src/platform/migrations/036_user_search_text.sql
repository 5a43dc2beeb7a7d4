-- A user search matches the name, the username or any of the user's addresses. The addresses
-- are rows of their own, so a search gathered every match from two tables before it could sort
-- them: a text in tens of thousands of users took half a second, one in nearly all of a million
-- several seconds. Each user now carries all of it in one column, with one trigram index, so a
-- search is one table's, as an invitation search is: a rare text is looked up in the index and
-- a common one pages down the list's order until the page is full.
--
-- The fields are joined by a newline, which pg_trgm takes as a word break and which a search
-- text must not hold (the store searches a text with one field by field): no match can span two
-- fields. The name is written as users.store.ts's fullName() writes it.
alter table users add column search_text text not null default '';

create function user_search_text(p_user_id text, p_first_name text, p_last_name text, p_username text) returns text
language sql stable as $$
  select lower(coalesce(p_first_name || ' ' || p_last_name, p_first_name, p_last_name, ''))
    || E'\n' || coalesce(p_username, '')
    || coalesce((select string_agg(E'\n' || e.email_address, '' order by e.created_at, e.id)
                 from email_addresses e where e.user_id = p_user_id), '')
$$;

create function users_search_text() returns trigger language plpgsql as $$
begin
  new.search_text := user_search_text(new.id, new.first_name, new.last_name, new.username);
  return new;
end $$;

create trigger users_search_text before insert or update of first_name, last_name, username on users
  for each row execute function users_search_text();

-- An address added, changed, moved or removed rewrites its user's text. A user being deleted
-- takes its addresses with it; the update then finds no row.
create function email_addresses_search_text() returns trigger language plpgsql as $$
begin
  if tg_op <> 'INSERT' then
    update users u set search_text = user_search_text(u.id, u.first_name, u.last_name, u.username) where u.id = old.user_id;
  end if;
  if tg_op <> 'DELETE' and (tg_op = 'INSERT' or new.user_id is distinct from old.user_id) then
    update users u set search_text = user_search_text(u.id, u.first_name, u.last_name, u.username) where u.id = new.user_id;
  end if;
  return null;
end $$;

create trigger email_addresses_search_text after insert or delete or update of email_address, user_id on email_addresses
  for each row execute function email_addresses_search_text();

update users u set search_text = user_search_text(u.id, u.first_name, u.last_name, u.username);

create index users_search_text_trgm on users using gin (search_text gin_trgm_ops);

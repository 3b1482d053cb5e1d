-- Each user's toolbox: the agents their assistant sees when
-- `catalog.toolbox = "chosen"`, and their named toolsets (subsets of it,
-- each served at its own MCP URL). The toolbox itself is the rows with
-- toolset ''; an agent in a named toolset is always in the toolbox too
-- (the store adds both rows in one transaction, and removing an agent
-- from the toolbox removes it from every set).
CREATE TABLE toolbox_agents (
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  toolset TEXT NOT NULL DEFAULT '' CONSTRAINT toolbox_agents_toolset_check
    CHECK (toolset = '' OR toolset ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
  agent_id UUID NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  added_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (user_id, toolset, agent_id)
);
-- Deleting an agent finds its rows (ON DELETE CASCADE).
CREATE INDEX toolbox_agents_agent_idx ON toolbox_agents (agent_id);

-- Every change to a user's toolbox or toolsets NOTIFYs 'vieagent_toolboxes'
-- with the user's id, whoever made it (web app, MCP, a purchase, a deleted
-- agent): every replica tells that user's MCP sessions `tools/list_changed`.
CREATE FUNCTION vieagent_toolboxes_changed() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('vieagent_toolboxes', OLD.user_id::text);
  ELSE
    PERFORM pg_notify('vieagent_toolboxes', NEW.user_id::text);
    IF TG_OP = 'UPDATE' AND OLD.user_id <> NEW.user_id THEN
      PERFORM pg_notify('vieagent_toolboxes', OLD.user_id::text);
    END IF;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER toolboxes_changed
  AFTER INSERT OR UPDATE OR DELETE ON toolbox_agents
  FOR EACH ROW EXECUTE FUNCTION vieagent_toolboxes_changed();

-- Full-text search over the published catalog, accent-insensitive: "tom
-- tat" finds "Tóm tắt", "da nang" finds "Đà Nẵng". No extension needed
-- (unaccent wants contrib installed and the right to create extensions,
-- and is only STABLE: no index expression).
--
-- `vieagent_fold` is a text as the search sees it: the gateway's
-- `store::toolbox::fold` for Latin letters (Latin-1 Supplement, Latin
-- Extended-A and -B, Latin Extended Additional: each letter to its lower-case
-- base letter, đ/Đ to d), combining marks (U+0300-U+036F, text typed
-- decomposed) dropped, and punctuation made spaces, so that words split
-- where the gateway's `search_words` splits a query (`web.search`,
-- `tom_tat` and `a-b` are two words each, not one host name or hyphenated
-- word to the text-search parser). One translate(), generated from `fold`
-- itself; a unit test (src/store/postgres/toolbox.rs) checks every pair, so
-- the two cannot drift apart. translate() looks each character up from the
-- start of the list: the most frequent (space, a-z, Vietnamese lower case)
-- come first, mapped to themselves.
CREATE FUNCTION vieagent_fold(text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
SELECT lower(translate($1,
  ' nhtaiocgumdlevrkbysxpqfjwzàáâãèéêìíòóôõùúýăđĩũơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ.,0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ!"#$%&()*+-/:;<=>?@[]^_`{|}~ ¡«·»¿×÷‐‑‒–—―‘’‚‛“”„‟•…‹›ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞäåçëîïðñöøûüÿĀāĂĄąĆćĈĉĊċČčĎďĐĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦĨĪīĬĭĮįİĲĴĵĶķĹĺĻļĽľĿŁłŃńŅņŇňŊŌōŎŏŐőŒŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŨŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžƁƂƄƆƇƉƊƋƎƏƐƑƓƔƖƗƘƜƝƟƠƢƤƦƧƩƬƮƯƱƲƳƵƷƸƼǄǅǇǈǊǋǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǢǣǤǦǧǨǩǪǫǬǭǮǯǰǱǲǴǵǶǷǸǹǺǻǼǽǾǿȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȜȞȟȠȢȤȦȧȨȩȪȫȬȭȮȯȰȱȲȳȺȻȽȾɁɃɄɅɆɈɊɌɎḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẞẠẢẤẦẨẪẬẮẰẲẴẶẸẺẼẾỀỂỄỆỈỊỌỎỐỒỔỖỘỚỜỞỠỢỤỦỨỪỬỮỰỲỴỶỸỺỼỾ̴̵̶̷̸̡̢̧̨̛̖̗̘̙̜̝̞̟̠̣̤̥̦̩̪̫̬̭̮̯̰̱̲̳̹̺̻̼͇͈͉͍͎̀́̂̃̄̅̆̇̈̉̊̋̌̍̎̏̐̑̒̓̔̽̾̿̀́͂̓̈́͆͊͋͌̕̚ͅ͏͓͔͕͖͙͚͐͑͒͗͛ͣͤͥͦͧͨͩͪͫͬͭͮͯ͘͜͟͢͝͞͠͡',
  ' nhtaiocgumdlevrkbysxpqfjwzaaaaeeeiioooouuyadiuouaaaaaaaaaaaaeeeeeeeeiioooooooooooouuuuuuuyyyy  0123456789abcdefghijklmnopqrstuvwxyz                                                      aaaaaaæceeeeiiiidnoooooouuuuyþaaceiidnoouuyaaaaaccccccccdddeeeeeeeeeegggggggghhħiiiiiiiiĳjjkkllllllŀllnnnnnnŋooooooœrrrrrrssssssssttttŧuuuuuuuuuuuwwyyyzzzzzzɓƃƅɔƈɖɗƌǝəɛƒɠɣɩɨƙɯɲɵoƣƥʀƨʃƭʈuʊʋƴƶʒƹƽǆǆǉǉǌǌaaiioouuuuuuuuuuaaaaææǥggkkooooʒʒjǳǳggƕƿnnaaææooaaaaeeeeiiiioooorrrruuuussttȝhhƞȣȥaaeeooooooooyyⱥȼƚⱦɂƀʉʌɇɉɋɍɏaabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmmmmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwwwwwwwwxxxxyyzzzzzzhtwyſßaaaaaaaaaaaaeeeeeeeeiioooooooooooouuuuuuuyyyyỻỽỿ'))
$$;

-- What an agent is found by: its tool name and name weigh A, its
-- description B. The search path is fixed: an index expression's
-- functions must not depend on the caller's (PostgreSQL 17 runs
-- maintenance with a safe search_path).
CREATE FUNCTION vieagent_agent_document(tool_name text, name text, description text)
  RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
SELECT setweight(to_tsvector('simple', vieagent_fold(tool_name)), 'A')
    || setweight(to_tsvector('simple', vieagent_fold(name)), 'A')
    || setweight(to_tsvector('simple', vieagent_fold(description)), 'B')
$$;

-- Stored beside each agent, computed by the database on every write (no
-- trigger to forget), and indexed for the published agents. Stored rather
-- than an expression index: ranking reads each match's document, and
-- rebuilding it per match cost ~0.1 ms (a search matching most of a
-- 10,000-agent catalog took ~1 s; with the column, ~18 ms).
ALTER TABLE agents ADD COLUMN search_document tsvector
  GENERATED ALWAYS AS (vieagent_agent_document(tool_name, name, description)) STORED;
CREATE INDEX agents_search_idx ON agents USING GIN (search_document)
  WHERE status = 'published';

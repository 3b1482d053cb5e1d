# VieAgent web app — English.
# Every message here has a twin in ../vi/app.ftl (a unit test checks).

## Chrome
skip-to-content = Skip to content
nav-label = Main
nav-tools = Tools
nav-catalog = Marketplace
nav-history = History
nav-credits = Credits
nav-credentials = Keys
lang-label = Language
sign-out = Sign out
yes = Yes
no = No
cancel = Cancel
back-to-tools = Back to your tools
start-again = Start again
title-with-errors = Error: { $title }

## Errors
error-title = That did not work
error-server-title = Something went wrong
error-server-text = Our server could not finish this. Nothing was charged. Please try again in a moment.
error-not-found-text = There is nothing here, or it is not yours to see.
error-busy-text = Too many requests right now. Wait a moment and try again.
csrf-title = This form cannot be accepted
csrf-text = It did not come from this site, or it has expired. Go back, reload the page and try again.

## Sign in
login-title = Sign in
login-intro = Sign in with your VieAgent API key. It is checked once; your browser then keeps a session, never the key.
login-api-key = API key
login-api-key-help = It starts with vak_
login-submit = Sign in
login-error-empty = Enter your API key.
login-error-invalid = That API key is not valid, or it was revoked. Check that you copied all of it.
login-error-disabled = This account is disabled. Contact VieAgent support.

## Tools
tools-title = Your tools
tools-empty = No tools are available to you yet.
tools-price = Price
tools-free = Free
tools-bought = Bought
tools-not-bought = Not yet
tools-keys = Keys
tools-key-stored = stored
tools-connect = Connect { $provider }
tools-open = Open
tools-open-label = Open { $tool }
tools-all-intro = Your assistant sees every agent of the marketplace.
tools-browse = Browse the marketplace
tools-chosen-intro = These are the agents your assistant sees. Remove one it no longer needs, or find more in the marketplace.
tools-chosen-empty = Your assistant has no agents yet. Find the ones you need in the marketplace and add them.
tools-find-more = Find more agents in the marketplace
price-one-time = { $amount } { $currency } once
price-monthly = { $amount } { $currency } a month
price-either = { $first } or { $second }
cost-free-call = No credits per call
cost-per-call = { $n ->
    [one] { $n } credit per call
   *[other] { $n } credits per call
}
credits-count = { $n ->
    [one] { $n } credit
   *[other] { $n } credits
}

## The marketplace
catalog-title = Marketplace
catalog-intro = Find agents and add them to your assistant: it sees only the agents you add.
catalog-intro-all = Your assistant can use every agent here. Open one to run it from its form.
catalog-search-label = Search agents
catalog-search-help = By name or by what it does, in Vietnamese or English. Accents are optional: “tom tat” finds “Tóm tắt”.
catalog-search = Search
catalog-results = Results for “{ $query }”
catalog-all = All agents
catalog-none = No agent matches “{ $query }”. Try other words.
catalog-see-all = See all agents
catalog-empty = The marketplace has no agents yet.
catalog-pages = Pages of results
catalog-more = More results
catalog-first = Back to the first results
catalog-in-toolbox = In your assistant
catalog-error-long = Search with at most { $max } characters.
catalog-error-cursor = That page of results does not exist. Start the search again.
toolbox-add = Add to my assistant
toolbox-remove = Remove
toolbox-added = Added “{ $tool }” to your assistant.
toolbox-removed = Removed “{ $tool }” from your assistant. Its history stays.
toolbox-error-unknown = That agent is not in the marketplace, so it could not be added. Search for it again.

## A tool's form
tool-all-tools = All tools
tool-cost = Cost
tool-balance = Your credits
tool-not-bought = This tool is priced and you have not bought it yet, so running it will be refused.
tool-short-of-credits = You do not have enough credits for a run.
form-required-note = Fields marked * are required.
form-required = (required)
form-choose = — Choose —
form-unset = — Leave unset —
form-add-row = Add { $item }
form-remove = Remove
form-no-rows = None yet.
form-arguments-json = Arguments (JSON)
form-json-help = Enter a JSON value.
run = Run
run-running = Running…
run-result = Result
run-failed = The tool did not finish
run-credits-used = { $n ->
    [0] No credits used
    [one] { $n } credit used
   *[other] { $n } credits used
}
run-history-entry = See it in your history
run-still-running = Still running
run-still-running-text = This run has not finished yet. Its result will be in your history.
run-missing-key = A key is missing
run-missing-key-text = This tool needs your key for { $providers }. Add it, then run the tool again.
run-add-key = Add your { $provider } key
run-error-limited = You are running tools too fast. Wait a moment and try again.
run-error-journal = The gateway cannot record runs right now, so the tool was not run. Nothing was charged. Try again in a moment.
run-error-unavailable = The tool could not be run right now. Nothing was charged. Try again in a moment.

run-details = What the agent said
run-why-purchase-required = This tool is priced and you have not bought it.
run-why-insufficient-credits = You do not have enough credits for this run. Nothing was charged.
run-why-access-denied = Your account cannot use this tool.
run-why-credential-unreadable = One of your keys for this tool can no longer be read. Add it again on the Keys page.
run-why-credential-rejected = The provider refused your key. Check it, or replace it on the Keys page.
run-why-timeout = The tool took too long and was stopped. Nothing was charged.
run-why-rate-limited = The tool is busy right now. Wait a moment and try again.
run-why-cancelled = The run was stopped before it finished. Nothing was charged.
run-why-unavailable = The tool's service cannot be reached right now. Nothing was charged. Try again later.
run-why-flow-missing = This tool is not available at the moment.
run-why-too-large = The input or the answer is too large for this tool.
run-why-failed = The tool reported an error.
draft-expired = This form was kept for an hour and has expired. Fill it in again.

## Help under fields
help-length-range = From { $min } to { $max } characters.
help-length-min = At least { $min } characters.
help-length-max = { $max ->
    [one] At most { $max } character.
   *[other] At most { $max } characters.
}
help-integer-range = A whole number from { $min } to { $max }.
help-number-range = A number from { $min } to { $max }.
help-min = At least { $min }.
help-max = At most { $max }.
help-integer = A whole number.
help-max-items = { $n ->
    [one] At most { $n } row.
   *[other] At most { $n } rows.
}
help-default = Default: { $value }.
help-format-email = Like name@example.com
help-format-uri = A web address, like https://example.com
help-format-uuid = An ID like 123e4567-e89b-12d3-a456-426614174000

## Field errors
error-summary-title = There is a problem
error-required = Enter { $field }.
error-choose = Choose an option for { $field }.
error-choose-yes-no = Choose yes or no for { $field }.
error-add-row = Add at least one row to { $field }.
error-text = Enter text.
error-json = Enter a valid JSON value.
error-choose-option = Choose one of the options.
error-min-length = { $n ->
    [one] Enter at least { $n } character.
   *[other] Enter at least { $n } characters.
}
error-max-length = { $n ->
    [one] Enter at most { $n } character.
   *[other] Enter at most { $n } characters.
}
error-integer-range = Enter a whole number from { $min } to { $max }.
error-integer-min = Enter a whole number of at least { $min }.
error-integer-max = Enter a whole number of at most { $max }.
error-integer-gt = Enter a whole number greater than { $min }.
error-integer-lt = Enter a whole number less than { $max }.
error-integer = Enter a whole number.
error-number-range = Enter a number from { $min } to { $max }.
error-number-min = Enter a number of at least { $min }.
error-number-max = Enter a number of at most { $max }.
error-number-gt = Enter a number greater than { $min }.
error-number-lt = Enter a number less than { $max }.
error-number = Enter a number.
error-min-items = { $n ->
    [one] Add at least { $n } row.
   *[other] Add at least { $n } rows.
}
error-max-items = { $n ->
    [one] Keep at most { $n } row.
   *[other] Keep at most { $n } rows.
}
error-unique-items = Remove the rows that repeat.
error-pattern = This is not in the expected form. Check the hint under the field.
error-format-email = Enter an email address like name@example.com.
error-format-date = Enter a date like 2026-12-31.
error-format-date-time = Enter a date and a time.
error-format-time = Enter a time like 09:30.
error-format-uri = Enter a web address starting with https://
error-format-uuid = Enter an ID like 123e4567-e89b-12d3-a456-426614174000.
error-unexpected = This tool does not accept: { $names }.
error-not-accepted = This value is not accepted.

## History and calls
history-title = History
history-empty = No runs yet.
history-when = When
history-tool = Tool
history-status = Status
history-duration = Duration
history-credits = Credits
history-older = Older runs
history-removed-tool = (a removed tool)
status-pending = Waiting
status-running = Running
status-success = Done
status-failed = Failed
duration-ms = { $n } ms
duration-s = { $n } s
call-title = Run of { $tool }
call-started = Started
call-id = ID
call-run-again = Change and run again
call-error = Error
call-input = Input (secrets hidden)
call-output = Output (secrets hidden)

## Credits
credits-title = Credits
credits-balance = Balance
credits-reserved = Held for runs in progress
credits-available = Available
credits-ledger = Changes
credits-ledger-empty = No changes yet.
credits-change = Change
credits-reason = Reason
credits-balance-after = Balance after
ledger-call = A run
ledger-signup = Welcome credits

## Keys
keys-title = Your keys
keys-intro = Your provider keys are stored encrypted and used only for your own runs. Nobody can read them back, not even you.
keys-empty = No keys stored yet.
keys-stored = Stored keys
keys-provider = Provider
keys-provider-help = For example openai, anthropic or google_sheets.
keys-name = Key name
keys-name-help = To tell several keys of one provider apart. Leave "default" if you have one.
keys-value = Key
keys-updated = Updated
keys-actions = Actions
keys-delete = Delete
keys-delete-label = Delete the { $provider } key "{ $name }"
keys-add-title = Add or replace a key
keys-save = Save key
keys-saved = Saved your { $provider } key "{ $name }". Your next run uses it.
keys-deleted = Deleted your { $provider } key "{ $name }".
keys-confirm-title = Delete this key?
keys-confirm-text = Your { $provider } key "{ $name }" will be deleted. Tools that need it will ask for a key again.
keys-confirm-yes = Yes, delete it
keys-error-provider-empty = Enter the provider's name, for example openai.
keys-error-provider = Use lowercase letters, digits, dots, dashes or underscores (up to 64), for example google_sheets.
keys-error-name = Enter a name of 1 to 64 characters, without line breaks.
keys-error-value-empty = Paste your key.
keys-error-value-size = This key is too long. Check that you pasted only the key.

## Connect links
connect-title = Add your keys
connect-intro = For the account { $email }. The keys go straight to VieAgent's encrypted store; your assistant does not see them. This link works once.
connect-key-label = Your { $provider } key
connect-save = Save
connect-error-missing = Paste your { $provider } key.
connect-done-title = Saved
connect-done-text = Your key is saved. Go back to your assistant and run the tool again.
connect-done-sign-in = Sign in to see your tools
link-title = Link not valid
link-heading = This link cannot be used
link-sign-in = Sign in to manage your keys
link-error-unavailable = We cannot check this link right now. Try again in a moment.
link-error-other-user = This link belongs to another account. Sign out first, or ask your assistant for a new link.
link-error-used = This link was already used. Ask your assistant for a new one if you need to add another key.
link-error-expired = This link has expired. Run the tool again in your assistant to get a new one.
link-error-invalid = This link is not valid. Copy the whole link from your assistant.

"""The SMS templates, `TEXTS[key] = (sq, en, sr)`: Albanian, English, Serbian (Latin script).

Data only; `core.texts` renders them. Serbian letters č ć š ž đ are written properly here
and transliterated for GSM-7 like ë and ç are (`gsm7.prepare`). Every template, in every
language, fits one 160-septet segment with worst-case values (tests/test_core_texts.py).
"""

from __future__ import annotations

__all__ = ["TEXTS"]

TEXTS: dict[str, tuple[str, str, str]] = {
    # --- help and refusals that carry no account data ---
    "help": (
        "B bilanci, BK kursimi, L lëvizjet, {example} mbushje, SHUMA numri juaj, "
        "Internet/TV/DuoTV/DuoFIX ID SHUMA, STOP/START njoftimet, SQ/EN/SR, BLLOKO 1234",
        "B balance, BK savings, L statement, {example} top-up, AMOUNT own number, "
        "Internet/TV/DuoTV/DuoFIX ID AMOUNT, STOP/START alerts, SQ/EN/SR, BLOCK 1234",
        "B stanje, BK štednja, L promene, {example} dopuna, IZNOS vaš broj, "
        "Internet/TV/DuoTV/DuoFIX ID IZNOS, STOP/START obaveštenja, SQ/EN/SR, BLOCK 1234",
    ),
    "stranger": (
        "Ky numër nuk ka marrëveshje për shërbimet SMS të bankës. "
        "Për t'u regjistruar, vizitoni një degë të bankës.",
        "This number has no agreement for the bank's SMS services. "
        "To sign up, please visit a branch of the bank.",
        "Ovaj broj nema ugovor za SMS usluge banke. "
        "Da biste se prijavili, posetite filijalu banke.",
    ),
    "service_missing": (
        "Shërbimi SMS {service} nuk është në marrëveshjen tuaj. "
        "Për ta shtuar, vizitoni një degë të bankës.",
        "SMS {service} is not in your agreement. To add it, please visit a branch of the bank.",
        "SMS usluga {service} nije u vašem ugovoru. Da je dodate, posetite filijalu banke.",
    ),
    "multipart_incomplete": (
        "Mesazhi juaj nuk arriti i plotë. Ju lutemi dërgojeni përsëri.",
        "Your message did not arrive complete. Please send it again.",
        "Vaša poruka nije stigla cela. Molimo pošaljite je ponovo.",
    ),
    # --- balances and the statement ---
    "balance_header_current": ("Bilanci:", "Balance:", "Stanje:"),
    "balance_header_savings": ("Bilanci i kursimit:", "Savings balance:", "Stanje štednje:"),
    "balance_line": (
        "{label} {account}: {balance}",
        "{label} {account}: {balance}",
        "{label} {account}: {balance}",
    ),
    "balance_as_of": ("Gjendja më {time}.", "As of {time}.", "Stanje od {time}."),
    "balance_bank_down": (
        "Lidhja me bankën mungon tani; gjendja më {time}.",
        "The bank cannot be reached now; balance as of {time}.",
        "Veza sa bankom trenutno ne radi; stanje od {time}.",
    ),
    "no_account_current": (
        "Nuk keni llogari rrjedhëse në këtë shërbim.",
        "You have no current account in this service.",
        "Nemate tekući račun u ovoj usluzi.",
    ),
    "no_account_savings": (
        "Nuk keni llogari kursimi në këtë shërbim.",
        "You have no savings account in this service.",
        "Nemate štedni račun u ovoj usluzi.",
    ),
    "statement_header": ("Lëvizjet e fundit:", "Last movements:", "Poslednje promene:"),
    "statement_line": (
        "{date} {amount} {type} {account}",
        "{date} {amount} {type} {account}",
        "{date} {amount} {type} {account}",
    ),
    "statement_empty": (
        "Nuk ka lëvizje të regjistruara në llogaritë tuaja.",
        "There are no movements on your accounts yet.",
        "Još nema promena na vašim računima.",
    ),
    # --- what to fix in a request (commands.Reason) ---
    "rej_amount_missing": (
        "Mungon shuma. Shkruani numrin, një hapësirë dhe shumën, p.sh. {example}.",
        "The amount is missing. Write the number, a space and the amount, e.g. {example}.",
        "Nedostaje iznos. Napišite broj, razmak i iznos, npr. {example}.",
    ),
    "rej_amount_missing_product": (
        "Mungon shuma. Shkruani produktin, ID-në dhe shumën, p.sh. {example}.",
        "The amount is missing. Write the product, the ID and the amount, e.g. {example}.",
        "Nedostaje iznos. Napišite proizvod, ID i iznos, npr. {example}.",
    ),
    "rej_amount_invalid": (
        "Shuma nuk kuptohet. Shkruani shumën në euro, p.sh. {example_amount}.",
        "The amount is not clear. Write the amount in euros, e.g. {example_amount}.",
        "Iznos nije jasan. Napišite iznos u evrima, npr. {example_amount}.",
    ),
    "rej_amount_not_allowed": (
        "Shuma {amount} nuk lejohet për {target}. Shumat e lejuara: {allowed}.",
        "The amount {amount} is not allowed for {target}. Allowed amounts: {allowed}.",
        "Iznos {amount} nije dozvoljen za {target}. Dozvoljeni iznosi: {allowed}.",
    ),
    "rej_number_invalid": (
        "Numri i telefonit nuk është i saktë. Shkruani p.sh. {example}.",
        "The phone number is not valid. Write e.g. {example}.",
        "Broj telefona nije ispravan. Napišite npr. {example}.",
    ),
    "rej_number_not_fixed": (
        "FIX vlen vetëm për numrat fiks të IPKO (028, 029, 038, 039). "
        "Për celular shkruani: NUMRI SHUMA.",
        "FIX is only for IPKO fixed lines (028, 029, 038, 039). "
        "For a mobile write: NUMBER AMOUNT.",
        "FIX važi samo za IPKO fiksne linije (028, 029, 038, 039). "
        "Za mobilni napišite: BROJ IZNOS.",
    ),
    "rej_operator_not_served": (
        "Mbushja nuk ofrohet për numrat e {operator}. Shërbimi vlen vetëm për Vala dhe IPKO.",
        "Top-ups are not offered for {operator} numbers, only for Vala and IPKO.",
        "Dopuna nije dostupna za brojeve {operator}, samo za Vala i IPKO.",
    ),
    "rej_operator_unknown": (
        "Nuk e njohim operatorin e këtij numri. Mbushja vlen vetëm për numrat e Vala dhe IPKO.",
        "We do not know this number's operator. Top-ups are only for Vala and IPKO numbers.",
        "Ne znamo operatera ovog broja. Dopuna važi samo za brojeve Vala i IPKO.",
    ),
    "rej_number_foreign": (
        "Mbushja vlen vetëm për numrat e Kosovës (+383) të Vala dhe IPKO.",
        "Top-ups are only for Kosovo (+383) numbers of Vala and IPKO.",
        "Dopuna važi samo za kosovske (+383) brojeve Vala i IPKO.",
    ),
    "rej_product_unknown": (
        "Produkt i panjohur. Produktet e IPKO: Internet, TV, DuoTV, DuoFIX, p.sh. {example}.",
        "Unknown product. IPKO products: Internet, TV, DuoTV, DuoFIX, e.g. {example}.",
        "Nepoznat proizvod. IPKO proizvodi: Internet, TV, DuoTV, DuoFIX, npr. {example}.",
    ),
    "rej_subscriber_missing": (
        "Mungon emri i përdoruesit ose numri i kartelës. Shkruani p.sh. {example}.",
        "The IPKO username or card number is missing. Write e.g. {example}.",
        "Nedostaje IPKO korisničko ime ili broj kartice. Napišite npr. {example}.",
    ),
    "rej_subscriber_invalid": (
        "Emri i përdoruesit ose numri i kartelës nuk është i saktë. Shkruani p.sh. {example}.",
        "The IPKO username or card number is not valid. Write e.g. {example}.",
        "IPKO korisničko ime ili broj kartice nije ispravan. Napišite npr. {example}.",
    ),
    "rej_card_digits": (
        "Shkruani BLLOKO dhe 4 shifrat e fundit të kartelës, p.sh. BLLOKO 1234.",
        "Write BLOCK and the last 4 digits of the card, e.g. BLOCK 1234.",
        "Napišite BLOCK i poslednje 4 cifre kartice, npr. BLOCK 1234.",
    ),
    # --- top-ups: our own checks, then the bank's answer ---
    "daily_cap": (
        "Keni arritur kufirin ditor të mbushjeve ({count} mbushje ose {amount}). "
        "Provoni përsëri nesër.",
        "You have reached the daily top-up limit ({count} top-ups or {amount}). "
        "Please try again tomorrow.",
        "Dostigli ste dnevno ograničenje dopuna ({count} dopuna ili {amount}). "
        "Pokušajte ponovo sutra.",
    ),
    # --- confirmation codes for larger top-ups (core.guards) ---
    "confirm_ask": (
        "Mbushje {amount} për {target}: për ta kryer, dërgoni kodin {code} brenda "
        "{minutes} minutave. Nëse nuk e kërkuat, mos e dërgoni.",
        "Top-up {amount} for {target}: to make it, send the code {code} within "
        "{minutes} minutes. If you did not ask for it, do not send it.",
        "Dopuna {amount} za {target}: da je izvršite, pošaljite kod {code} u roku od "
        "{minutes} minuta. Ako je niste tražili, ne šaljite ga.",
    ),
    "confirm_wrong": (
        "Kodi nuk është i saktë. Dërgoni kodin që morët me SMS.",
        "The code is not correct. Send the code you received by SMS.",
        "Kod nije tačan. Pošaljite kod koji ste dobili SMS-om.",
    ),
    "confirm_cancelled": (
        "Kodi nuk është i saktë {tries} herë; mbushja u anulua. Nuk u tërhoq asnjë shumë.",
        "The code was wrong {tries} times; the top-up was cancelled. No money was taken.",
        "Kod je pogrešan {tries} puta; dopuna je otkazana. Novac nije skinut.",
    ),
    "confirm_expired": (
        "Koha e kodit ka kaluar; mbushja u anulua. Dërgoni kërkesën përsëri.",
        "The code has expired; the top-up was cancelled. Please send the request again.",
        "Kod je istekao; dopuna je otkazana. Pošaljite zahtev ponovo.",
    ),
    "hold_smsc": (
        "Mbushja nuk u bë: mesazhi erdhi nga një rrjet që banka nuk e njeh. "
        "Dërgojeni përsëri nga telefoni juaj në rrjetin tuaj.",
        "The top-up was not made: the message came through a network the bank does not "
        "trust. Please send it again from your phone on your own network.",
        "Dopuna nije izvršena: poruka je stigla preko mreže kojoj banka ne veruje. "
        "Pošaljite je ponovo sa svog telefona u svojoj mreži.",
    ),
    "hold_sim_swap": (
        "Karta SIM e këtij numri u ndërrua së fundmi; për sigurinë tuaj mbushjet janë "
        "ndalur për {hours} orë. Për ndihmë, vizitoni një degë të bankës.",
        "The SIM card of this number was changed recently; for your safety top-ups are "
        "held for {hours} hours. For help, please visit a branch of the bank.",
        "SIM kartica ovog broja je nedavno promenjena; radi vaše sigurnosti dopune su "
        "zaustavljene {hours} sati. Za pomoć posetite filijalu banke.",
    ),
    "rate_limited": (
        "Keni dërguar shumë mesazhe. Mesazhet e tjera nuk do të marrin përgjigje për një kohë.",
        "You have sent too many messages. Further messages will get no answer for a while.",
        "Poslali ste previše poruka. Sledeće poruke neko vreme neće dobiti odgovor.",
    ),
    "bank_down_topup": (
        "Lidhja me bankën nuk është e mundur tani, prandaj mbushja nuk u bë. Provoni më vonë.",
        "The bank cannot be reached now, so the top-up was not made. Please try again later.",
        "Veza sa bankom trenutno ne radi, pa dopuna nije izvršena. Pokušajte kasnije.",
    ),
    "topup_pending": (
        "Kërkesa për mbushje me {amount} për {target} u pranua dhe po kryhet.",
        "Your top-up of {amount} for {target} was accepted and is being processed.",
        "Vaša dopuna od {amount} za {target} je primljena i obrađuje se.",
    ),
    "topup_done": (
        "Mbushja me {amount} për {target} u krye. Bilanci i ri: {balance}.",
        "Top-up of {amount} for {target} done. New balance: {balance}.",
        "Dopuna od {amount} za {target} je izvršena. Novo stanje: {balance}.",
    ),
    "topup_done_no_balance": (
        "Mbushja me {amount} për {target} u krye.",
        "Top-up of {amount} for {target} done.",
        "Dopuna od {amount} za {target} je izvršena.",
    ),
    "topup_rejected_insufficient_funds": (
        "Mbushja me {amount} për {target} nuk u krye: nuk keni mjete të mjaftueshme në llogari.",
        "Top-up of {amount} for {target} not done: insufficient funds in your account.",
        "Dopuna od {amount} za {target} nije izvršena: nemate dovoljno sredstava na računu.",
    ),
    "topup_rejected_operator_mismatch": (
        "Mbushja me {amount} për {target} nuk u krye: numri ka kaluar te një operator tjetër.",
        "Top-up of {amount} for {target} not done: the number has moved to another operator.",
        "Dopuna od {amount} za {target} nije izvršena: broj je prešao kod drugog operatera.",
    ),
    "topup_rejected_limit": (
        "Mbushja me {amount} për {target} nuk u krye: është arritur kufiri i mbushjeve te banka.",
        "Top-up of {amount} for {target} not done: the bank's top-up limit has been reached.",
        "Dopuna od {amount} za {target} nije izvršena: dostignuto je ograničenje dopuna u banci.",
    ),
    "topup_rejected_unknown": (
        "Mbushja me {amount} për {target} nuk u krye. Për arsyen, ju lutemi kontaktoni bankën.",
        "Top-up of {amount} for {target} not done. Please contact the bank for the reason.",
        "Dopuna od {amount} za {target} nije izvršena. Za razlog se obratite banci.",
    ),
    "topup_failed": (
        "Mbushja me {amount} për {target} nuk u krye për një problem teknik. Provoni më vonë.",
        "Top-up of {amount} for {target} failed for a technical problem. Please try later.",
        "Dopuna od {amount} za {target} nije uspela zbog tehničkog problema. Pokušajte kasnije.",
    ),
    # --- alerts ---
    "alert": (
        "Lëvizje në llogarinë {account}: {amount}, {type}, {time}. Bilanci i ri: {balance}.",
        "Movement on account {account}: {amount}, {type}, {time}. New balance: {balance}.",
        "Promena na računu {account}: {amount}, {type}, {time}. Novo stanje: {balance}.",
    ),
    # --- requests made at the bank (core.requests): alerts on/off, language, card block ---
    "not_available_yet": (
        "Ky shërbim me SMS nuk ofrohet ende. Për ndihmë, telefononi bankën ose vizitoni një degë.",
        "This SMS service is not offered yet. For help, call the bank or visit a branch.",
        "Ova SMS usluga još nije dostupna. Za pomoć pozovite banku ili posetite filijalu.",
    ),
    "alerts_off_done": (
        "Njoftimet SMS për lëvizjet u ndalën. Për t'i rinisur, dërgoni START.",
        "SMS alerts for movements are now off. To turn them on again, send START.",
        "SMS obaveštenja o promenama su isključena. Da ih ponovo uključite, pošaljite START.",
    ),
    "alerts_on_done": (
        "Njoftimet SMS për lëvizjet u aktivizuan. Për t'i ndalur, dërgoni STOP.",
        "SMS alerts for movements are now on. To turn them off, send STOP.",
        "SMS obaveštenja o promenama su uključena. Da ih isključite, pošaljite STOP.",
    ),
    "alerts_failed": (
        "Ndryshimi i njoftimeve nuk u krye. Provoni përsëri më vonë ose vizitoni një degë.",
        "Your alerts could not be changed. Please try again later or visit a branch.",
        "Promena obaveštenja nije uspela. Pokušajte ponovo kasnije ili posetite filijalu.",
    ),
    "alerts_pending": (
        "Lidhja me bankën mungon tani; njoftimet do të ndryshohen sapo të kthehet dhe do "
        "t'ju njoftojmë.",
        "The bank cannot be reached now; your alerts will be changed as soon as it is back "
        "and we will let you know.",
        "Veza sa bankom trenutno ne radi; obaveštenja ćemo promeniti čim proradi i javićemo "
        "vam.",
    ),
    "language_done": (
        "Nga tani mesazhet tuaja do të jenë në shqip.",
        "From now on your messages will be in English.",
        "Od sada će vaše poruke biti na srpskom.",
    ),
    "language_failed": (
        "Gjuha nuk u ndryshua. Provoni përsëri më vonë.",
        "The language could not be changed. Please try again later.",
        "Jezik nije promenjen. Pokušajte ponovo kasnije.",
    ),
    "language_pending": (
        "Lidhja me bankën mungon tani; gjuha do të ndryshohet sapo të kthehet dhe do "
        "t'ju njoftojmë.",
        "The bank cannot be reached now; the language will be changed as soon as it is back "
        "and we will let you know.",
        "Veza sa bankom trenutno ne radi; jezik ćemo promeniti čim proradi i javićemo vam.",
    ),
    "card_blocked": (
        "Kartela që mbaron me {last4} u bllokua. Për një kartelë të re, vizitoni një degë.",
        "Your card ending in {last4} is blocked. For a new card, please visit a branch.",
        "Vaša kartica koja se završava sa {last4} je blokirana. Za novu posetite filijalu.",
    ),
    "card_unknown": (
        "Nuk gjetëm kartelë tuajën që mbaron me {last4}. Kontrolloni shifrat ose telefononi "
        "bankën.",
        "We found no card of yours ending in {last4}. Check the digits or call the bank.",
        "Nismo našli vašu karticu koja se završava sa {last4}. Proverite cifre ili pozovite "
        "banku.",
    ),
    "card_failed": (
        "Kartela që mbaron me {last4} nuk u bllokua. Telefononi menjëherë bankën.",
        "Your card ending in {last4} could not be blocked. Please call the bank at once.",
        "Kartica koja se završava sa {last4} nije blokirana. Odmah pozovite banku.",
    ),
    "card_pending": (
        "Lidhja me bankën mungon tani; kartela që mbaron me {last4} do të bllokohet sapo të "
        "kthehet. Nëse ngutet, telefononi bankën.",
        "The bank cannot be reached now; your card ending in {last4} will be blocked as soon "
        "as it is back. If urgent, call the bank.",
        "Veza sa bankom trenutno ne radi; kartica koja se završava sa {last4} biće blokirana "
        "čim proradi. Ako je hitno, pozovite banku.",
    ),
}
